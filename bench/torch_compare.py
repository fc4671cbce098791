"""PyTorch side of bench/torch_compare.ts: the same workloads as ours, written as a PyTorch user
would write them (eager, 2 threads; optionally torch.compile), run as a worker process.

Protocol (one JSON object per line on stdout, commands on stdin):
  start:   python torch_compare.py WORKLOAD [--compile]   -> {"ready": true, "params": N, ...}
  "run K"  -> runs the workload K times             -> {"ms": [...]} (one entry per run)
  "flops"  -> {"flops": N, "by_op": {...}}           (one call counted, see count_flops)
  "rss"    -> {"peak_rss_mb": x}                     (peak resident set of this process)
  "quit"   -> exits
Counting only: python torch_compare.py WORKLOAD --flops  -> prints the "flops" answer and exits
(no warm-up, no timing: it needs no quiet machine).
Workloads: matmul512, dreamer-ci, tdmpc2-ci, tdmpc2-5m, tdmpc2-5m-plan, tdmpc2-cheetah,
tdmpc2-cheetah-plan (the size and planner of the HalfCheetah-v5 evidence runs), dreamer-12m-vec,
dreamer-12m-img, dreamer-12m-imag.

The models follow ours (src/models/dreamerv3, src/models/tdmpc2) layer for layer and use the same
algorithms (what is hoisted out of the recurrent loop, which Q heads are evaluated), so the
comparison is framework against framework. Threads: WORLDFLUX_TORCH_THREADS (default 2).
"""

import json
import math
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("WORLDFLUX_TORCH_THREADS", "2")))
torch.manual_seed(0)

# Seconds of warm-up calls before timing (see main).
WARM_S = 1.5


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def symlog(x):
    return torch.sign(x) * torch.log1p(x.abs())


def symexp(x):
    return torch.sign(x) * torch.expm1(x.abs())


# ------------------------------------------------------------------------------------------------
# DreamerV3 (as src/models/dreamerv3: RMS norms, SiLU, block GRU core, two-hot reward, KL balance)
# ------------------------------------------------------------------------------------------------


def trunc_linear(i, o, zero=False):
    lin = nn.Linear(i, o)
    with torch.no_grad():
        if zero:
            lin.weight.zero_()
        else:
            std = 1.0 / math.sqrt(i) / 0.87962566103423978
            nn.init.trunc_normal_(lin.weight, std=std, a=-2 * std, b=2 * std)
        lin.bias.zero_()
    return lin


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-4):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.square().mean(-1, keepdim=True) + self.eps) * self.scale


class ChannelNorm(RMSNorm):
    def forward(self, x):  # [N, C, H, W], over C
        r = torch.rsqrt(x.square().mean(1, keepdim=True) + self.eps)
        return x * r * self.scale.view(1, -1, 1, 1)


class NormLinear(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear = trunc_linear(i, o)
        self.norm = RMSNorm(o)

    def forward(self, x):
        return F.silu(self.norm(self.linear(x)))


def dense_stack(i, units, n):
    layers = []
    for _ in range(n):
        layers.append(NormLinear(i, units))
        i = units
    return nn.Sequential(*layers)


class DreamerWM(nn.Module):
    def __init__(self, deter, stoch, classes, hidden, units, cnn_depth, obs_shape, act, blocks=8):
        super().__init__()
        self.D, self.S, self.K, self.H, self.G = deter, stoch, classes, hidden, blocks
        self.SK = stoch * classes
        self.image = len(obs_shape) == 3
        D, H, SK, G = deter, hidden, self.SK, blocks
        F_ = D + SK
        self.F = F_
        if self.image:
            c, h, _ = obs_shape
            depths = []
            while h > 4:
                depths.append(cnn_depth * 2 ** len(depths))
                h //= 2
            self.depths = depths
            convs, norms, cin = [], [], c
            for d in depths:
                convs.append(nn.Conv2d(cin, d, 4, 2, 1))
                norms.append(ChannelNorm(d))
                cin = d
            self.convs, self.cnorms = nn.ModuleList(convs), nn.ModuleList(norms)
            E = depths[-1] * 16
            self.space = trunc_linear(F_, 16 * depths[-1])
            self.space_norm = ChannelNorm(depths[-1])
            dcs, dns = [], []
            for i in range(len(depths) - 1, 0, -1):
                dcs.append(nn.ConvTranspose2d(depths[i], depths[i - 1], 4, 2, 1))
                dns.append(ChannelNorm(depths[i - 1]))
            self.deconvs, self.dnorms = nn.ModuleList(dcs), nn.ModuleList(dns)
            self.img_out = nn.ConvTranspose2d(depths[0], c, 4, 2, 1)
        else:
            self.enc = dense_stack(obs_shape[0], units, 3)
            E = units
            self.dec = dense_stack(F_, units, 3)
            self.dec_out = trunc_linear(units, obs_shape[0])
        self.dynin0 = NormLinear(D, H)
        self.dynin1 = NormLinear(SK, H)
        self.dynin2 = NormLinear(act, H)
        p = D // G
        self.hid_h = nn.Parameter(torch.randn(G, p, p) / math.sqrt(D + 3 * H * G))
        self.hid_x = nn.Parameter(torch.randn(3 * H, D) / math.sqrt(D + 3 * H * G))
        self.hid_b = nn.Parameter(torch.zeros(D))
        self.hid_norm = RMSNorm(D)
        self.gru_h = nn.Parameter(torch.randn(G, p, 3 * p) / math.sqrt(D))
        self.gru_b = nn.Parameter(torch.zeros(3 * D))
        self.obs0 = NormLinear(D + E, H)
        self.obslogit = trunc_linear(H, SK)
        self.prior = dense_stack(D, H, 2)
        self.priorlogit = trunc_linear(H, SK)
        self.rew = dense_stack(F_, units, 1)
        self.rew_out = trunc_linear(units, 255, zero=True)
        self.con = dense_stack(F_, units, 1)
        self.con_out = trunc_linear(units, 1)
        bins = torch.linspace(-20, 20, 255)
        self.register_buffer("bins", bins)

    # -- pieces ---------------------------------------------------------------------------------
    def encode(self, obs):  # [N, ...] -> [N, E]
        if self.image:
            x = obs - 0.5
            for conv, n in zip(self.convs, self.cnorms):
                x = F.silu(n(conv(x)))
            return x.flatten(1)
        return self.enc(symlog(obs))

    def decode(self, feat):
        if self.image:
            n = feat.shape[0]
            x = self.space(feat).view(n, self.depths[-1], 4, 4)
            x = F.silu(self.space_norm(x))
            for dc, nm in zip(self.deconvs, self.dnorms):
                x = F.silu(nm(dc(x)))
            return self.img_out(x) + 0.5
        return self.dec_out(self.dec(feat))

    def action_part(self, a):  # [N, A] -> dynin2(a/max(1,|a|)) @ W_a + b
        a = a / a.abs().clamp(min=1).detach()
        return self.dynin2(a) @ self.hid_x[2 * self.H:] + self.hid_b

    def core(self, h, z, apart):
        n, G, D, H = h.shape[0], self.G, self.D, self.H
        p = D // G
        x0 = self.dynin0(h)
        x1 = self.dynin1(z)
        y = torch.cat([x0, x1], -1) @ self.hid_x[: 2 * H]
        yb = torch.bmm(h.view(n, G, p).transpose(0, 1), self.hid_h).transpose(0, 1).reshape(n, D)
        hid = F.silu(self.hid_norm(y + yb + apart))
        g = torch.bmm(hid.view(n, G, p).transpose(0, 1), self.gru_h).transpose(0, 1)
        g = g + self.gru_b.view(G, 3 * p)
        r, c, u = g.split(p, -1)
        r = torch.sigmoid(r)
        c = torch.tanh(r * c)
        u = torch.sigmoid(u - 1)
        hb = h.view(n, G, p)
        return (u * c + (1 - u) * hb).reshape(n, D)

    def probs(self, logits):
        p = logits.view(*logits.shape[:-1], self.S, self.K).softmax(-1)
        return p * 0.99 + 0.01 / self.K

    def sample(self, logits, gumbel):
        p = self.probs(logits)
        idx = (p.log() + gumbel).argmax(-1) if gumbel is not None else p.argmax(-1)
        hot = F.one_hot(idx, self.K).to(p.dtype)
        return (hot + p - p.detach()).reshape(logits.shape)

    def gumbel(self, *shape):
        u = torch.rand(*shape, self.S, self.K)
        return -torch.log(-torch.log(u.clamp(min=1e-20)).clamp(min=1e-20))

    def prior_logits(self, h):
        return self.priorlogit(self.prior(h))

    def post_logits(self, h, epart):
        pre = h @ self.obs0.linear.weight[:, : self.D].t() + epart
        return self.obslogit(F.silu(self.obs0.norm(pre)))

    def twohot_loss(self, logits, target):
        y = symlog(target)
        bins = self.bins
        k = bins.shape[0]
        below = (bins <= y[:, None]).sum(-1) - 1
        above = k - (bins > y[:, None]).sum(-1)
        below, above = below.clamp(0, k - 1), above.clamp(0, k - 1)
        equal = below == above
        db = torch.where(equal, torch.ones_like(y), (bins[below] - y).abs())
        da = torch.where(equal, torch.ones_like(y), (bins[above] - y).abs())
        tot = db + da
        t = F.one_hot(below, k) * (da / tot)[:, None] + F.one_hot(above, k) * (db / tot)[:, None]
        return -(t * F.log_softmax(logits, -1)).sum(-1)

    def kl(self, post, prior):
        lp = self.probs(post).log()
        lq = self.probs(prior).log()
        dyn = (lp.detach().exp() * (lp.detach() - lq)).sum((-2, -1))
        rep = (lp.exp() * (lp - lq.detach())).sum((-2, -1))
        return dyn.clamp(min=1.0), rep.clamp(min=1.0)

    # -- the world-model loss -------------------------------------------------------------------
    def loss(self, obs, actions, rewards, terms):
        B, T = actions.shape[:2]
        N, D, H = B * T, self.D, self.H
        flat = obs.reshape(N, *obs.shape[2:])
        embed = self.encode(flat)
        prev = torch.cat([torch.zeros_like(actions[:, :1]), actions[:, :-1]], 1)
        apart = self.action_part(prev.reshape(N, -1)).view(B, T, D)
        epart = (embed @ self.obs0.linear.weight[:, D:].t() + self.obs0.linear.bias).view(B, T, H)
        noise = self.gumbel(B, T)
        h = torch.zeros(B, D)
        z = torch.zeros(B, self.SK)
        hs, zs, ls = [], [], []
        for t in range(T):
            h = self.core(h, z, apart[:, t])
            lg = self.post_logits(h, epart[:, t])
            z = self.sample(lg, noise[:, t])
            hs.append(h)
            zs.append(z)
            ls.append(lg)
        deter, stoch, post = torch.stack(hs, 1), torch.stack(zs, 1), torch.stack(ls, 1)
        prior = self.prior_logits(deter.reshape(N, D)).view(B, T, self.SK)
        nh = self.core(h, z, self.action_part(actions[:, -1]))
        nz = self.sample(self.prior_logits(nh), self.gumbel(B))
        feat = torch.cat([deter, stoch], -1)
        featn = feat.reshape(N, self.F)
        dec = self.decode(featn)
        if self.image:
            rec = (dec - flat).square().sum((1, 2, 3))
        else:
            rec = (dec - symlog(flat)).square().sum(-1)
        succ = torch.cat([feat[:, 1:], torch.cat([nh, nz], -1)[:, None]], 1).reshape(N, self.F)
        rew = self.twohot_loss(self.rew_out(self.rew(succ)), rewards.reshape(N))
        logit = self.con_out(self.con(succ)).reshape(N)
        con = F.binary_cross_entropy_with_logits(logit, 1 - terms.reshape(N), reduction="none")
        dyn, rep = self.kl(post.reshape(N, self.SK), prior.reshape(N, self.SK))
        return rec.mean() + rew.mean() + con.mean() + dyn.mean() + 0.1 * rep.mean()

    # -- imagination (no gradients) -------------------------------------------------------------
    def imagine(self, deter, stoch, actions):  # actions [T, B, A]
        feats = []
        for t in range(actions.shape[0]):
            deter = self.core(deter, stoch, self.action_part(actions[t]))
            stoch = self.sample(self.prior_logits(deter), self.gumbel(deter.shape[0]))
            feats.append(torch.cat([deter, stoch], -1))
        f = torch.stack(feats, 0).reshape(-1, self.F)
        logits = self.rew_out(self.rew(f))
        p = logits.softmax(-1)
        m = 127
        rew = symexp(((p[:, -m:] - p[:, :m].flip(-1)) * self.bins[-m:]).sum(-1))
        con = torch.sigmoid(self.con_out(self.con(f)))
        return rew, con, deter


DREAMER_SIZES = {
    "ci": dict(deter=64, stoch=4, classes=4, hidden=32, units=32, cnn_depth=3),
    "12m": dict(deter=2048, stoch=16, classes=16, hidden=256, units=256, cnn_depth=16),
}


def dreamer_step(size, obs_shape, compiled):
    act = 2 if len(obs_shape) == 1 else 6  # vector runs: action 2; images: the default 6
    model = DreamerWM(**DREAMER_SIZES[size], obs_shape=obs_shape, act=act)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, eps=1e-8)
    B, T = 16, 64
    g = torch.Generator().manual_seed(1)
    if len(obs_shape) == 3:
        obs = torch.rand(B, T, *obs_shape, generator=g)
    else:
        obs = torch.randn(B, T, *obs_shape, generator=g)
    actions = torch.randn(B, T, act, generator=g).tanh()
    rewards = torch.randn(B, T, generator=g)
    terms = torch.zeros(B, T)
    loss_fn = torch.compile(model.loss) if compiled else model.loss

    def step():
        loss = loss_fn(obs, actions, rewards, terms)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1000.0)
        opt.step()
        return loss.item()

    return step, model


def dreamer_imag(compiled):
    model = DreamerWM(**DREAMER_SIZES["12m"], obs_shape=[3, 64, 64], act=6)
    g = torch.Generator().manual_seed(4)
    deter = torch.randn(16, 2048, generator=g).tanh()
    stoch = torch.zeros(16, 256)
    actions = torch.randn(15, 16, 6, generator=g).tanh()
    fn = torch.compile(model.imagine) if compiled else model.imagine

    def step():
        with torch.no_grad():
            r, c, d = fn(deter, stoch, actions)
        return float(r[0])

    return step, model


# ------------------------------------------------------------------------------------------------
# TD-MPC2 (official structure: NormedLinear = Linear -> LayerNorm -> Mish, SimNorm latents,
# two-hot heads, an ensemble of Q heads as batched matmuls, tanh-Gaussian policy)
# ------------------------------------------------------------------------------------------------


class NormedLinear(nn.Linear):
    def __init__(self, i, o, act="mish", dropout=0.0):
        super().__init__(i, o)
        self.ln = nn.LayerNorm(o)
        self.act = act
        self.dropout = nn.Dropout(dropout) if dropout else None

    def forward(self, x):
        x = super().forward(x)
        if self.dropout is not None:
            x = self.dropout(x)
        x = self.ln(x)
        if self.act == "simnorm":
            s = x.shape
            return F.softmax(x.view(*s[:-1], -1, 8), -1).view(s)
        return F.mish(x)


def td_mlp(i, hidden, o, act=None, zero=False):
    layers = []
    for h in hidden:
        layers.append(NormedLinear(i, h))
        i = h
    layers.append(NormedLinear(i, o, act=act) if act else nn.Linear(i, o))
    m = nn.Sequential(*layers)
    for mod in m.modules():
        if isinstance(mod, nn.Linear):
            nn.init.trunc_normal_(mod.weight, std=0.02)
            nn.init.zeros_(mod.bias)
    if zero:
        nn.init.zeros_(layers[-1].weight)
    return m


class QEnsemble(nn.Module):
    """n heads in -> hidden -> hidden -> K as batched weights (official layers.Ensemble)."""

    def __init__(self, n, i, hidden, k, dropout):
        super().__init__()
        self.ws, self.bs, self.lw, self.lb = nn.ParameterList(), nn.ParameterList(), nn.ParameterList(), nn.ParameterList()
        d = i
        for h in hidden:
            w = torch.empty(n, h, d)
            nn.init.trunc_normal_(w, std=0.02)
            self.ws.append(nn.Parameter(w))
            self.bs.append(nn.Parameter(torch.zeros(n, h)))
            self.lw.append(nn.Parameter(torch.ones(n, h)))
            self.lb.append(nn.Parameter(torch.zeros(n, h)))
            d = h
        self.ow = nn.Parameter(torch.zeros(n, k, d))
        self.ob = nn.Parameter(torch.zeros(n, k))
        self.p = dropout

    def weights(self):
        return [list(self.ws), list(self.bs), list(self.lw), list(self.lb), self.ow, self.ob]

    @staticmethod
    def apply(W, x, p=0.0, training=False, idx=None):
        ws, bs, lw, lb, ow, ob = W
        sel = (lambda t: t[idx]) if idx is not None else (lambda t: t)
        y = x
        for i in range(len(ws)):
            w, b = sel(ws[i]), sel(bs[i])
            y = torch.baddbmm(b.unsqueeze(1), y if y.dim() == 3 else y.expand(w.shape[0], *y.shape), w.transpose(1, 2))
            if i == 0 and p > 0 and training:
                y = F.dropout(y, p, True)
            y = F.layer_norm(y, y.shape[-1:]) * sel(lw[i]).unsqueeze(1) + sel(lb[i]).unsqueeze(1)
            y = F.mish(y)
        return torch.baddbmm(sel(ob).unsqueeze(1), y, sel(ow).transpose(1, 2))


class TDMPC2(nn.Module):
    def __init__(self, obs, act, enc, hid, lat, nq, samples=512, elites=64, pi_trajs=24,
                 iterations=6):
        super().__init__()
        self.A, self.L, self.nq = act, lat, nq
        self.enc = td_mlp(obs, [enc], lat, act="simnorm")
        self.dyn = td_mlp(lat + act, [hid, hid], lat, act="simnorm")
        self.rew = td_mlp(lat + act, [hid, hid], 101, zero=True)
        self.pi = td_mlp(lat, [hid, hid], 2 * act)
        self.qs = QEnsemble(nq, lat + act, [hid, hid], 101, 0.01)
        self.target = [[t.detach().clone() for t in w] if isinstance(w, list) else w.detach().clone() for w in self.qs.weights()]
        self.register_buffer("bins", torch.linspace(-10, 10, 101))
        self.scale = torch.ones(1)
        self.samples, self.elites, self.pi_trajs = samples, elites, pi_trajs
        self.iterations = iterations
        self.discount = min(max((200 - 1) / 200, 0.95), 0.995)

    def two_hot(self, x):
        x = symlog(x).clamp(-10, 10)
        pos = (x + 10) / 0.2
        lo = pos.floor()
        off = (pos - lo).unsqueeze(-1)
        lo = lo.long()
        hi = (lo + 1) % 101
        t = torch.zeros(*x.shape, 101)
        t.scatter_(-1, lo.unsqueeze(-1), 1 - off)
        t.scatter_add_(-1, hi.unsqueeze(-1), off)
        return t

    def two_hot_inv(self, logits):
        return symexp((logits.softmax(-1) * self.bins).sum(-1))

    def soft_ce(self, logits, target):
        return -(self.two_hot(target) * F.log_softmax(logits, -1)).sum(-1)

    def policy(self, z):
        mu, ls = self.pi(z).chunk(2, -1)
        ls = -10 + 0.5 * 12 * (torch.tanh(ls) + 1)
        eps = torch.randn_like(mu)
        logp = (-0.5 * eps.square() - ls - 0.9189385175704956).sum(-1, keepdim=True)
        scaled = logp * self.A
        pi = torch.tanh(mu + eps * ls.exp())
        logp = logp - torch.log(F.relu(1 - pi.square()) + 1e-6).sum(-1, keepdim=True)
        ent_scale = scaled / (logp + 1e-8)
        return pi, -logp * ent_scale

    def q_pair(self, z, a, W, reduce, training):
        idx = torch.randperm(self.nq)[:2]
        za = torch.cat([z, a], -1)
        out = QEnsemble.apply(W, za.reshape(-1, za.shape[-1]), 0.01, training, idx)
        v = self.two_hot_inv(out).view(2, *z.shape[:-1])
        return v.min(0).values if reduce == "min" else v.mean(0)

    def next(self, z, a):
        return self.dyn(torch.cat([z, a], -1))

    def update(self, obs, action, reward, opt, pi_opt):
        # obs [H+1, B, D], action [H, B, A], reward [H, B] (time-major, as the official buffer)
        H, B = reward.shape
        rho = 0.5 ** torch.arange(H, dtype=torch.float32)
        with torch.no_grad():
            next_z = self.enc(obs[1:])
            a, _ = self.policy(next_z)
            td = reward + self.discount * self.q_pair(next_z, a, self.target, "min", False)
        self.train()
        z = self.enc(obs[0])
        zs = [z]
        cons = 0
        for t in range(H):
            z = self.next(z, action[t])
            cons = cons + (z - next_z[t]).square().mean() * rho[t]
            zs.append(z)
        zs = torch.stack(zs, 0)
        _zs = zs[:-1].reshape(H * B, self.L)
        af = action.reshape(H * B, self.A)
        za = torch.cat([_zs, af], -1)
        qs = QEnsemble.apply(self.qs.weights(), za, 0.01, True)
        rl = (self.soft_ce(self.rew(za), reward.reshape(-1)).view(H, B).mean(1) * rho).sum() / H
        vl = (self.soft_ce(qs, td.reshape(-1)).view(self.nq, H, B).mean(2) * rho).sum() / (H * self.nq)
        total = 20 * cons / H + 0.1 * rl + 0.1 * vl
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.wm_params, 20)
        opt.step()
        # policy
        zs = zs.detach()
        flat = zs.reshape(-1, self.L)
        a, ent = self.policy(flat)
        W = [[t.detach() for t in w] if isinstance(w, list) else w.detach() for w in self.qs.weights()]
        q = self.q_pair(flat, a, W, "avg", True).view(H + 1, B)
        with torch.no_grad():
            s = torch.quantile(q[0], torch.tensor([0.05, 0.95]))
            self.scale.lerp_((s[1] - s[0]).clamp(min=1).reshape(1), 0.01)
        rho1 = 0.5 ** torch.arange(H + 1, dtype=torch.float32)
        pl = (-(1e-4 * ent.view(H + 1, B) + q / self.scale).mean(1) * rho1).mean()
        pi_opt.zero_grad(set_to_none=True)
        pl.backward()
        torch.nn.utils.clip_grad_norm_(self.pi.parameters(), 20)
        pi_opt.step()
        self.eval()
        with torch.no_grad():
            live = self.qs.weights()
            for tw, lw in zip(self.target, live):
                if isinstance(tw, list):
                    for t, l in zip(tw, lw):
                        t.lerp_(l, 0.01)
                else:
                    tw.lerp_(lw, 0.01)
        return total

    @torch.no_grad()
    def plan(self, obs, prev_mean=None):
        H, A, N, P, E = 3, self.A, self.samples, self.pi_trajs, self.elites
        z = self.enc(obs)  # [1, L]
        pi_actions = torch.empty(H, P, A)
        _z = z.repeat(P, 1)
        for t in range(H - 1):
            pi_actions[t], _ = self.policy(_z)
            _z = self.next(_z, pi_actions[t])
        pi_actions[-1], _ = self.policy(_z)
        z = z.repeat(N, 1)
        mean = torch.zeros(H, A)
        std = torch.full((H, A), 2.0)
        if prev_mean is not None:
            mean[:-1] = prev_mean[1:]
        actions = torch.empty(H, N, A)
        actions[:, :P] = pi_actions
        W = self.qs.weights()
        for _ in range(self.iterations):
            r = torch.randn(H, N - P, A)
            actions[:, P:] = (mean.unsqueeze(1) + std.unsqueeze(1) * r).clamp(-1, 1)
            G, disc, _z = 0, 1, z
            for t in range(H):
                za = torch.cat([_z, actions[t]], -1)
                G = G + disc * self.two_hot_inv(self.rew(za))
                _z = self.dyn(za)
                disc *= self.discount
            a, _ = self.policy(_z)
            value = (G + disc * self.q_pair(_z, a, W, "avg", False)).nan_to_num(0)
            elite_idxs = torch.topk(value, E, dim=0).indices
            elite_value, elite_actions = value[elite_idxs], actions[:, elite_idxs]
            max_value = elite_value.max(0).values
            score = torch.exp(0.5 * (elite_value - max_value))
            score = score / score.sum(0)
            mean = (score.view(1, E, 1) * elite_actions).sum(1) / (score.sum(0) + 1e-9)
            std = ((score.view(1, E, 1) * (elite_actions - mean.unsqueeze(1)) ** 2).sum(1) / (score.sum(0) + 1e-9)).sqrt().clamp(0.05, 2)
        g = -torch.log(-torch.log(torch.rand(E).clamp(min=1e-20)))
        pick = (score.log() + g).argmax()
        a = elite_actions[:, pick]
        return (a[0] + std[0] * torch.randn(A)).clamp(-1, 1), mean


TD_SIZES = {
    "ci": dict(enc=32, hid=32, lat=32, nq=2, samples=64, elites=8, pi_trajs=4),
    "5m": dict(enc=256, hid=512, lat=512, nq=5),
    "cheetah": dict(enc=128, hid=128, lat=64, nq=2, samples=256, elites=64, pi_trajs=24,
                    iterations=4),
}
TD_OBS = {"ci": 39, "5m": 39, "cheetah": 17}


def tdmpc2_update(size, compiled):
    D = TD_OBS[size]
    m = TDMPC2(D, 6, **TD_SIZES[size])
    m.wm_params = [*m.enc.parameters(), *m.dyn.parameters(), *m.rew.parameters(), *m.qs.parameters()]
    opt = torch.optim.Adam([
        {"params": list(m.enc.parameters()), "lr": 3e-4 * 0.3},
        {"params": [*m.dyn.parameters(), *m.rew.parameters()]},
        {"params": list(m.qs.parameters())},
    ], lr=3e-4)
    pi_opt = torch.optim.Adam(m.pi.parameters(), lr=3e-4, eps=1e-5)
    g = torch.Generator().manual_seed(2)
    B, H = 256, 3
    obs = torch.randn(H + 1, B, D, generator=g)
    action = torch.rand(H, B, 6, generator=g) * 2 - 1
    reward = torch.randn(H, B, generator=g)
    upd = torch.compile(m.update) if compiled else m.update

    def step():
        return float(upd(obs, action, reward, opt, pi_opt).detach())

    return step, m


def tdmpc2_plan(size, compiled):
    m = TDMPC2(TD_OBS[size], 6, **TD_SIZES[size])
    m.eval()
    obs = torch.randn(1, TD_OBS[size], generator=torch.Generator().manual_seed(6))
    fn = torch.compile(m.plan) if compiled else m.plan
    state = {"mean": None}

    def step():
        a, state["mean"] = fn(obs, state["mean"])
        return float(a[0])

    return step, m


# ------------------------------------------------------------------------------------------------


def matmul512(compiled):
    n = 512
    g = torch.Generator().manual_seed(1)
    a = torch.randn(n, n, generator=g)
    w = torch.randn(n, n, generator=g) / math.sqrt(n)

    def chain(x, m):
        for _ in range(10):
            x = x @ m
        return x

    fn = torch.compile(chain) if compiled else chain

    def step():
        return float(fn(a, w)[0, 0])

    return step, None


def build(name, compiled):
    if name == "matmul512":
        return matmul512(compiled)
    if name == "dreamer-ci":
        return dreamer_step("ci", [8], compiled)
    if name == "dreamer-12m-vec":
        return dreamer_step("12m", [8], compiled)
    if name == "dreamer-12m-img":
        return dreamer_step("12m", [3, 64, 64], compiled)
    if name == "dreamer-12m-imag":
        return dreamer_imag(compiled)
    if name == "tdmpc2-ci":
        return tdmpc2_update("ci", compiled)
    if name == "tdmpc2-5m":
        return tdmpc2_update("5m", compiled)
    if name == "tdmpc2-5m-plan":
        return tdmpc2_plan("5m", compiled)
    if name == "tdmpc2-cheetah":
        return tdmpc2_update("cheetah", compiled)
    if name == "tdmpc2-cheetah-plan":
        return tdmpc2_plan("cheetah", compiled)
    raise SystemExit(f"unknown workload {name}")


def count_flops(step):
    """Floating-point operations of one call of `step`, counted by PyTorch's FlopCounterMode:
    the matmul family (mm, addmm, bmm, baddbmm) and convolutions, 2 per multiply-add, forward and
    backward (a training step's backward runs inside the call). Elementwise work, norms, softmax
    and the optimizer are not counted: the figure is the GEMM work a BLAS has to do."""
    from torch.utils.flop_counter import FlopCounterMode

    mode = FlopCounterMode(display=False)
    with mode:
        step()
    by_op = {str(op).removeprefix("aten."): n for op, n in mode.get_flop_counts()["Global"].items()}
    return {"flops": mode.get_total_flops(), "by_op": by_op}


def blas_info():
    cfg = torch.__config__.show()
    blas = "unknown"
    for line in cfg.splitlines():
        if "Math Kernel Library" in line:
            blas = "MKL " + line.split("Version")[1].split("-")[0].strip()
        elif "OpenBLAS" in line and blas == "unknown":
            blas = "OpenBLAS"
    for line in cfg.splitlines():
        if "MKL-DNN" in line:
            blas += ", oneDNN " + line.split("v")[1].split(" ")[0]
    return blas


def main():
    name = sys.argv[1]
    compiled = "--compile" in sys.argv
    t0 = time.perf_counter()
    if "--flops" in sys.argv:
        if compiled:
            raise SystemExit("--flops counts the eager workload: drop --compile")
        step, _ = build(name, False)
        print(json.dumps(count_flops(step)), flush=True)
        return
    step, model = build(name, compiled)
    # Warm-up: the fixed count, then more calls until 1.5 s have passed (at most 200): the same
    # rule as our worker, whose JIT needs many calls of a millisecond-long step.
    warm = 2 if name.startswith("dreamer-12m") else 3
    w0 = time.perf_counter()
    for i in range(200):
        if i >= warm and time.perf_counter() - w0 >= WARM_S:
            break
        step()
    params = sum(p.numel() for p in model.parameters()) if model is not None else 0
    print(json.dumps({
        "ready": True,
        "params": params,
        "torch": torch.__version__,
        "blas": blas_info(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "setup_s": time.perf_counter() - t0,
    }), flush=True)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "run":
            ms = []
            for _ in range(int(cmd[1])):
                t = time.perf_counter()
                step()
                ms.append((time.perf_counter() - t) * 1e3)
            print(json.dumps({"ms": ms}), flush=True)
        elif cmd[0] == "flops":
            # FlopCounterMode does not see inside torch.compile's graphs
            print(json.dumps(count_flops(step) if not compiled else {"flops": None}), flush=True)
        elif cmd[0] == "rss":
            print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}), flush=True)
        elif cmd[0] == "quit":
            break


if __name__ == "__main__":
    main()
