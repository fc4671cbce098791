"""worldflux Gymnasium host: serves Gymnasium environments to worldflux over two named pipes.

Started by worldflux (src/envs/gym/channel.ts) as `python host.py --fifo DIR`: it creates the
FIFOs DIR/req (requests, read here) and DIR/rep (replies, written here) and opens them in that
order. It needs only the standard library, gymnasium and numpy (ale-py / mujoco when an
environment asks for them).

Wire format (both directions), one message per frame:

    u32 header_len | u32 payload_len | header (UTF-8 JSON) | payload (raw array bytes)

all little-endian. `header["arrays"]` lists the arrays of the payload in order as
`[name, dtype, shape, offset]` (offset from the payload start, a multiple of 8), so a 64x64x3
uint8 frame costs its 12288 bytes and no JSON. The first frame is the host's `hello` (protocol
version, Python and package versions, missing packages); after that every request gets exactly
one reply, `{"op": "ok", ...}` or `{"op": "error", "kind": ..., "message": ..., "traceback":
...}`. Prints of environments (and of C libraries) go to stderr (file descriptor 1 is pointed at
it at start-up) and never into a frame.

Requests: make, reset, step, render, get_state, set_state, ping, stats, close (`Host.op_*`).
SIGINT is ignored: the parent owns the host's life (it kills it on interrupt); the host also
exits at the end of the request pipe, so it never outlives its parent.
"""

import json
import math
import os
import signal
import struct
import sys
import time
import traceback

# One step at a time runs here: BLAS / OpenMP thread pools only add contention (a 2-core machine
# ran the same resize 50x slower with them). Set before numpy is imported; the caller may override.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

PROTOCOL = 1
PACKAGES = ("gymnasium", "numpy", "ale-py", "mujoco", "opencv-python")
REQUIRED = ("gymnasium", "numpy")
MAX_FRAME = 1 << 30

np = None  # numpy, imported on `make` (the handshake needs only the standard library)
gym = None


class BridgeError(Exception):
    """An error the parent maps to a typed error (`kind`: unknown_env, dependency, ...)."""

    def __init__(self, kind, message, missing=None):
        super().__init__(message)
        self.kind = kind
        self.missing = missing or []


# ------------------------------------------------------------------------------------------
# Framing
# ------------------------------------------------------------------------------------------


def read_exact(f, n):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = f.readinto(view[got:])
        if not k:
            return None
        got += k
    return buf


def read_frame(f):
    prefix = read_exact(f, 8)
    if prefix is None:
        return None, None
    hlen, plen = struct.unpack("<II", prefix)
    if hlen > MAX_FRAME or plen > MAX_FRAME:
        raise BridgeError("protocol", f"frame of {hlen}+{plen} bytes is too large")
    body = read_exact(f, hlen + plen)  # one read for both (the payload follows the header)
    if body is None:
        return None, None
    view = memoryview(body)
    return json.loads(view[:hlen].tobytes()), view[hlen:]


_DTYPE_NAMES = {}


def dtype_name(dt):
    """`dt.name`, cached (numpy computes the name anew on every access, ~10 us)."""
    name = _DTYPE_NAMES.get(dt)
    if name is None:
        name = _DTYPE_NAMES[dt] = dt.name
    return name


def write_frame(fd, header, arrays=()):
    """Writes one frame; `arrays` is a list of (name, contiguous numpy array)."""
    specs = []
    chunks = []
    offset = 0
    for name, a in arrays:
        pad = (-offset) % 8
        if pad:
            chunks.append(b"\0" * pad)
            offset += pad
        specs.append([name, dtype_name(a.dtype), a.shape, offset])
        chunks.append(memoryview(a).cast("B"))
        offset += a.nbytes
    if specs:
        header["arrays"] = specs
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    head += b" " * ((-(8 + len(head))) % 8)  # the payload starts 8-byte aligned in the frame
    parts = [struct.pack("<II", len(head), offset), head, *chunks]
    total = 8 + len(head) + offset
    sent = os.writev(fd, parts)  # no copy of the arrays (the pipe is enlarged to hold a frame)
    if sent < total:
        rest = memoryview(b"".join(parts))[sent:]
        while rest:
            rest = rest[os.write(fd, rest):]


def payload_arrays(header, payload):
    out = {}
    for name, dtype, shape, offset in header.get("arrays", []):
        dt = np.dtype(dtype)
        count = 1
        for d in shape:
            count *= d
        out[name] = np.frombuffer(payload, dt, count, offset).reshape(shape)
    return out


# ------------------------------------------------------------------------------------------
# Handshake
# ------------------------------------------------------------------------------------------


def package_versions():
    from importlib import metadata

    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
        except Exception:  # a broken install: report it as missing
            out[name] = None
    return out


def hello():
    versions = package_versions()
    return {
        "op": "hello",
        "protocol": PROTOCOL,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": sys.platform,
        "packages": versions,
        "missing": [p for p in REQUIRED if versions[p] is None],
        "pid": os.getpid(),
    }


def import_required():
    global np, gym
    missing = []
    for name in ("gymnasium", "numpy"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise BridgeError("dependency", "cannot import " + ", ".join(missing), missing)
    np = sys.modules["numpy"]
    gym = sys.modules["gymnasium"]


# ------------------------------------------------------------------------------------------
# Spaces and values
# ------------------------------------------------------------------------------------------


def is_image_space(space):
    return (
        len(space.shape) == 3
        and space.dtype == np.uint8
        and space.shape[2] in (1, 3, 4)
    )


def describe_box(space):
    """A non-image Box as worldflux sees it: float32 values (any dtype is converted here)."""
    return {"kind": "box", "shape": list(space.shape), "dtype": "float32"}


def jsonable(v, depth=0):
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if np is not None:
        if isinstance(v, np.generic):
            return jsonable(v.item(), depth)
        if isinstance(v, np.ndarray):
            if v.size > 64 or depth > 2:
                return None
            return [jsonable(x, depth + 1) for x in v.ravel().tolist()]
    if isinstance(v, (list, tuple)) and depth < 3 and len(v) <= 64:
        return [jsonable(x, depth + 1) for x in v]
    if isinstance(v, dict) and depth < 3:
        return {str(k): jsonable(x, depth + 1) for k, x in v.items() if not str(k).startswith("_")}
    return None


def stack(rows):
    """Rows of equal shape as one contiguous array (one row: a view, no copy)."""
    if len(rows) == 1:
        return np.ascontiguousarray(rows[0])[None]
    return np.stack(rows)


def info_dict(info):
    if not info:
        return {}
    return {k: jsonable(v) for k, v in info.items() if not str(k).startswith("_")}


# ------------------------------------------------------------------------------------------
# Pre-processing
# ------------------------------------------------------------------------------------------


def area_taps(n_in, n_out):
    """Area-resize weights along one axis as taps: output o = sum_k w[o, k] * input[idx[o, k]].

    Output cell o covers input [o * s, (o + 1) * s) with s = n_in / n_out; each input cell weighs
    its overlap with that span (exact area averaging, as OpenCV's INTER_AREA). A cell touches at
    most ceil(s) + 1 inputs, so a few gathers replace a dense (n_out x n_in) matrix product.
    """
    scale = n_in / n_out
    rows = []
    for o in range(n_out):
        lo, hi = o * scale, (o + 1) * scale
        i = int(math.floor(lo))
        taps = []
        while i < n_in and i < hi:
            overlap = min(hi, i + 1) - max(lo, i)
            if overlap > 1e-9:
                taps.append((i, overlap / scale))
            i += 1
        rows.append(taps)
    k = max(len(t) for t in rows)
    idx = np.zeros((n_out, k), np.intp)
    w = np.zeros((n_out, k), np.float32)
    for o, taps in enumerate(rows):
        for j, (i, wt) in enumerate(taps):
            idx[o, j] = i
            w[o, j] = wt
        idx[o, len(taps):] = taps[-1][0]  # zero-weight padding
    return idx, w


class Resizer:
    """HWC (or HW) uint8 frames -> CHW uint8 `[C, size, size]`, area-averaged (cv2 when present).

    `size` None keeps the frame's height and width (layout and grayscale conversion only).
    Grayscale from RGB uses the ITU-R 601 luma weights (0.299, 0.587, 0.114).
    """

    def __init__(self, size, gray):
        self.size = size
        self.gray = gray
        self.taps = {}
        try:
            import cv2

            self.cv2 = cv2
        except ImportError:
            self.cv2 = None
        self.method = "cv2.INTER_AREA" if self.cv2 else "area average (numpy)"

    def __call__(self, frame):
        if frame.ndim == 2:
            frame = frame[:, :, None]
        if self.gray and frame.shape[2] >= 3:
            f = frame[:, :, :3].astype(np.float32)
            frame = f[:, :, 0] * 0.299 + f[:, :, 1] * 0.587 + f[:, :, 2] * 0.114
            frame = np.rint(frame).astype(np.uint8)[:, :, None]
        elif frame.shape[2] == 4:
            frame = frame[:, :, :3]
        h, w, c = frame.shape
        s = self.size
        if s is None or (h, w) == (s, s):
            return np.ascontiguousarray(frame.transpose(2, 0, 1))
        if self.cv2 is not None:
            out = self.cv2.resize(np.ascontiguousarray(frame), (s, s), interpolation=self.cv2.INTER_AREA)
            if out.ndim == 2:
                out = out[:, :, None]
            return np.ascontiguousarray(out.transpose(2, 0, 1))
        if (h, w) not in self.taps:
            self.taps[(h, w)] = (area_taps(h, s), area_taps(w, s))
        (iy, wy), (ix, wx) = self.taps[(h, w)]
        rows = frame[iy[:, 0]] * wy[:, 0, None, None]
        for k in range(1, iy.shape[1]):
            rows += frame[iy[:, k]] * wy[:, k, None, None]
        out = rows[:, ix[:, 0]] * wx[None, :, 0, None]
        for k in range(1, ix.shape[1]):
            out += rows[:, ix[:, k]] * wx[None, :, k, None]
        np.rint(out, out=out)
        np.clip(out, 0, 255, out=out)
        return np.ascontiguousarray(out.astype(np.uint8).transpose(2, 0, 1))


class Slot:
    """One Gymnasium environment and its pre-processing (the generic path)."""

    def __init__(self, env, opts):
        self.env = env
        self.repeat = opts["repeat"]
        self.pixels = opts["pixels"]
        self.resizer = Resizer(opts["size"], opts["gray"]) if opts["image"] else None
        self.start = opts["start"]

    def observe(self, obs):
        if self.pixels:
            return self.resizer(np.asarray(self.env.render()))
        if self.resizer is not None:
            return self.resizer(np.asarray(obs))
        return np.asarray(obs, np.float32)

    def reset(self, seed):
        obs, info = self.env.reset(seed=seed)
        return self.observe(obs), info

    def step(self, action):
        if isinstance(action, int):
            action += self.start
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return self.observe(obs), total, bool(terminated), bool(truncated), info

    def frame(self):
        f = self.env.render()
        if f is None:
            raise BridgeError(
                "unsupported",
                "this environment renders nothing: create it with render: true "
                "(Gymnasium render_mode='rgb_array')",
            )
        return np.asarray(f)


class AtariSlot(Slot):
    """ALE with DreamerV3's pre-processing, stepping the emulator directly.

    Gymnasium's AtariEnv is made with frameskip=1 (sticky actions stay per emulator frame, as in
    v5); each step here repeats the action `repeat` times on the ALE, takes the max of the last two
    frames (flicker), resizes to `size` x `size` (area average) and returns CHW uint8. Episodes
    end at game over (terminated) or at ALE's frame limit (truncated). Losing a life does not end
    the episode unless `life_loss` is set (then `terminated` is true on that step).
    """

    def __init__(self, env, opts):
        super().__init__(env, opts)
        u = env.unwrapped
        self.ale = u.ale
        actions = getattr(u, "_action_set", None)  # the set Gymnasium's action indices map to
        if actions is None:
            full = env.spec is not None and env.spec.kwargs.get("full_action_space")
            actions = self.ale.getLegalActionSet() if full else self.ale.getMinimalActionSet()
        self.actions = actions
        self.gray = opts["gray"]
        self.pool = 2
        self.life_loss = opts["life_loss"]
        self.noop_max = opts["noop_max"]
        h, w = self.ale.getScreenDims()
        shape = (h, w) if self.gray else (h, w, 3)
        self.buffers = [np.zeros(shape, np.uint8) for _ in range(self.pool)]
        self.lives = 0

    def grab(self, buf):
        if self.gray:
            self.ale.getScreenGrayscale(buf)
        else:
            self.ale.getScreenRGB(buf)

    def observe(self, obs=None):
        a, b = self.buffers
        return self.resizer(np.maximum(a, b))

    def reset(self, seed):
        _, info = self.env.reset(seed=seed)
        if self.noop_max > 0:
            for _ in range(int(self.env.unwrapped.np_random.integers(0, self.noop_max + 1))):
                self.ale.act(self.actions[0])
                if self.ale.game_over():
                    self.ale.reset_game()
        self.grab(self.buffers[0])
        self.buffers[1][...] = self.buffers[0]
        self.lives = self.ale.lives()
        return self.observe(), info

    def step(self, action):
        act = self.actions[int(action)]
        total = 0.0
        terminated = truncated = False
        n = self.repeat
        for k in range(n):
            total += self.ale.act(act)
            if k >= n - self.pool:
                self.buffers.reverse()
                self.grab(self.buffers[0])
            if self.ale.game_over(with_truncation=False):
                terminated = True
            elif self.ale.game_truncated():
                truncated = True
            lives = self.ale.lives()
            if self.life_loss and 0 < lives < self.lives:
                terminated = True
            self.lives = lives
            if terminated or truncated:
                if k < n - self.pool:  # ended before the pooled frames: show the last one
                    self.grab(self.buffers[0])
                    self.buffers[1][...] = self.buffers[0]
                break
        info = {"lives": self.lives, "episode_frame_number": self.ale.getEpisodeFrameNumber()}
        return self.observe(), total, terminated, truncated, info

    def frame(self):
        h, w = self.ale.getScreenDims()
        rgb = np.zeros((h, w, 3), np.uint8)
        self.ale.getScreenRGB(rgb)
        return rgb


# ------------------------------------------------------------------------------------------
# Environment state (tests, parity checks)
# ------------------------------------------------------------------------------------------


def is_mujoco(u):
    return hasattr(u, "set_state") and hasattr(u, "model") and hasattr(u, "data")


def get_state(env):
    u = env.unwrapped
    if is_mujoco(u):
        return np.concatenate([np.asarray(u.data.qpos), np.asarray(u.data.qvel)]).astype(np.float64)
    if getattr(u, "state", None) is not None:
        return np.asarray(u.state, np.float64).ravel().copy()
    raise BridgeError("unsupported", f"{type(u).__name__} exposes no state (no .state, not MuJoCo)")


def set_state(env, state):
    u = env.unwrapped
    state = np.asarray(state, np.float64).ravel()
    if is_mujoco(u):
        nq, nv = u.model.nq, u.model.nv
        if state.size != nq + nv:
            raise BridgeError("bad_request", f"state needs nq + nv = {nq} + {nv} values, got {state.size}")
        u.set_state(state[:nq].copy(), state[nq:].copy())
    else:
        cur = getattr(u, "state", None)
        if cur is None:
            raise BridgeError("unsupported", f"{type(u).__name__} exposes no state to set (call reset first)")
        ref = np.asarray(cur)
        if ref.size != state.size:
            raise BridgeError("bad_request", f"state needs {ref.size} values, got {state.size}")
        value = state.astype(ref.dtype if ref.dtype.kind == "f" else np.float64).reshape(ref.shape)
        u.state = tuple(value.tolist()) if isinstance(cur, tuple) else value
    for name in ("_get_obs", "_get_ob"):
        fn = getattr(u, name, None)
        if callable(fn):
            return fn()
    if getattr(u, "state", None) is not None and np.asarray(u.state).shape == u.observation_space.shape:
        return np.asarray(u.state, u.observation_space.dtype)
    raise BridgeError("unsupported", f"{type(u).__name__}: cannot compute the observation of a set state")


# ------------------------------------------------------------------------------------------
# Requests
# ------------------------------------------------------------------------------------------


def classify_make_error(e):
    from gymnasium import error as gerr

    if isinstance(e, (gerr.NameNotFound, gerr.NamespaceNotFound, gerr.VersionNotFound, gerr.UnregisteredEnv)):
        return BridgeError("unknown_env", str(e))
    if isinstance(e, gerr.DependencyNotInstalled):
        return BridgeError("dependency", str(e))
    if isinstance(e, ImportError):
        name = getattr(e, "name", None)
        return BridgeError("dependency", str(e), [name] if name else [])
    return None


class Host:
    def __init__(self, out_fd):
        self.out_fd = out_fd
        self.slots = []
        self.single = True
        # CPU seconds of this thread in the protocol (framing, JSON, copies) and in the requests'
        # work (environments, pre-processing): `stats` reports them (time.thread_time excludes
        # waiting, so a loaded machine barely changes them).
        self.requests = 0
        self.cpu_protocol = 0.0
        self.cpu_work = 0.0

    def handle(self, req, payload):
        op = req.get("op")
        fn = getattr(self, "op_" + str(op), None)
        if fn is None:
            raise BridgeError("bad_request", f"unknown request {op!r}")
        return fn(req, payload)

    # make ---------------------------------------------------------------------------------
    def op_make(self, req, payload):
        if self.slots:
            raise BridgeError("bad_request", "make: this host already holds environments")
        for p in reversed(req.get("python_path") or []):
            if p not in sys.path:
                sys.path.insert(0, p)
        import_required()
        env_id = req["id"]
        kwargs = dict(req.get("kwargs") or {})
        o = req.get("options") or {}
        n = int(req.get("num_envs", 1))
        self.single = n == 1 and not req.get("vector", False)
        atari = env_id.startswith("ALE/") and o.get("atari", True)
        if env_id.startswith("ALE/"):
            try:
                import ale_py
            except ImportError as e:
                raise BridgeError("dependency", f"{env_id} needs ale-py: {e}", ["ale-py"])
            gym.register_envs(ale_py)
        if atari:
            for k in ("frameskip", "obs_type"):
                if k in kwargs:
                    raise BridgeError(
                        "bad_request",
                        f"kwargs.{k} conflicts with worldflux's Atari pre-processing (it sets "
                        f"frameskip=1 and repeats actions itself: use frameSkip / grayscale, or "
                        f"turn the pre-processing off with atari: false)",
                    )
            kwargs["frameskip"] = 1
            kwargs.setdefault("repeat_action_probability", 0.25)
            kwargs["obs_type"] = "grayscale" if o.get("gray") else "rgb"
        if o.get("pixels") or o.get("render"):
            kwargs.setdefault("render_mode", "rgb_array")
        if o.get("max_episode_steps") is not None:
            key = "max_num_frames_per_episode" if atari else "max_episode_steps"
            kwargs[key] = int(o["max_episode_steps"])
        envs = []
        try:
            for _ in range(n):
                env = gym.make(env_id, **kwargs)
                if o.get("flatten"):
                    env = gym.wrappers.FlattenObservation(env)
                envs.append(env)
        except Exception as e:
            for env in envs:
                env.close()
            mapped = classify_make_error(e)
            if mapped is not None:
                if mapped.kind == "unknown_env":
                    import difflib

                    near = difflib.get_close_matches(env_id, list(gym.registry.keys()), n=3, cutoff=0.6)
                    if near:
                        mapped.args = (f"{mapped.args[0]} Close registered ids: {', '.join(near)}",)
                raise mapped from e
            raise
        env = envs[0]
        space = env.observation_space
        act = env.action_space
        if not atari and not o.get("pixels") and not isinstance(space, gym.spaces.Box):
            for e in envs:
                e.close()
            raise BridgeError(
                "unsupported",
                f"{env_id}: observation space {space} is not a Box (worldflux takes Box observations; "
                f"for Dict/Tuple spaces pass flatten: true)",
            )
        if not isinstance(act, (gym.spaces.Box, gym.spaces.Discrete)):
            for e in envs:
                e.close()
            raise BridgeError("unsupported", f"{env_id}: action space {act} is neither Box nor Discrete")
        frames = atari or bool(o.get("pixels"))
        image = frames or is_image_space(space)
        gray = bool(o.get("gray"))
        size = o.get("size")
        if frames:
            size = int(size or 64)
            obs_shape = [1 if gray else 3, size, size]
        elif image:
            h, w, c = space.shape
            size = int(size) if size else None
            obs_shape = [1 if gray else min(c, 3), size or h, size or w]
        repeat = int(o.get("repeat") or (4 if atari else 1))
        opts = {
            "repeat": repeat,
            "pixels": bool(o.get("pixels")),
            "image": image,
            "size": size,
            "gray": gray,
            "life_loss": bool(o.get("life_loss")),
            "noop_max": int(o.get("noop_max") or 0),
            "start": int(act.start) if isinstance(act, gym.spaces.Discrete) else 0,
        }
        cls = AtariSlot if atari else Slot
        self.slots = [cls(e, opts) for e in envs]

        # Observation space as worldflux sees it (after pre-processing).
        arrays = []
        if image:
            obs_desc = {"kind": "box", "shape": obs_shape, "dtype": "uint8"}
            lo = np.zeros(int(np.prod(obs_shape)), np.float32)
            hi = np.full(lo.size, 255, np.float32)
        else:
            obs_desc = describe_box(space)
            lo = np.asarray(space.low, np.float32).ravel().copy()
            hi = np.asarray(space.high, np.float32).ravel().copy()
        arrays += [("obs_low", lo), ("obs_high", hi)]
        if isinstance(act, gym.spaces.Discrete):
            act_desc = {"kind": "discrete", "n": int(act.n), "start": int(act.start)}
        else:
            act_desc = describe_box(act)
            arrays += [
                ("act_low", np.asarray(act.low, np.float32).ravel().copy()),
                ("act_high", np.asarray(act.high, np.float32).ravel().copy()),
            ]
        spec = env.spec
        if atari:  # ALE's own limit, in emulator frames (= base steps at frameskip 1)
            limit = kwargs.get("max_num_frames_per_episode")
            if limit is None and spec is not None:
                limit = spec.kwargs.get("max_num_frames_per_episode")
        else:
            limit = spec.max_episode_steps if spec is not None else None
        steps = int(math.ceil(limit / repeat)) if limit else None
        reply = {
            "op": "ok",
            "id": spec.id if spec is not None else env_id,
            "observation_space": obs_desc,
            "action_space": act_desc,
            "max_episode_steps": steps,
            "reward_threshold": spec.reward_threshold if spec is not None else None,
            "atari": atari,
            "repeat": repeat,
            "resize": self.slots[0].resizer.method if self.slots[0].resizer else None,
            "render_mode": getattr(env, "render_mode", None),
            "state": self.state_kind(env),
            "kwargs": jsonable(kwargs),
        }
        return reply, arrays

    def state_kind(self, env):
        """How get/set_state reach the state: MuJoCo (qpos, qvel) or `unwrapped.state` (classic
        control; some environments create it in their first reset, so this is a hint)."""
        u = env.unwrapped
        if is_mujoco(u):
            return {"kind": "mujoco", "nq": int(u.model.nq), "nv": int(u.model.nv)}
        return {"kind": "state"}

    # reset / step -------------------------------------------------------------------------
    def require(self):
        if not self.slots:
            raise BridgeError("bad_request", "no environment: send make first")

    def op_reset(self, req, payload):
        self.require()
        seeds = req.get("seeds")
        arrays = payload_arrays(req, payload) if payload else {}
        obs, infos = [], []
        for i, slot in enumerate(self.slots):
            seed = seeds[i] if seeds is not None else None
            o, info = slot.reset(None if seed is None else int(seed))
            if "state" in arrays:
                o = slot.observe(set_state(slot.env, arrays["state"][i]))
            obs.append(o)
            infos.append(info_dict(info))

        return {"op": "ok", "infos": infos}, [("obs", stack(obs))]

    def op_step(self, req, payload):
        self.require()
        actions = payload_arrays(req, payload)["actions"]
        autoreset = not self.single
        obs, rewards, term, trunc, infos = [], [], [], [], []
        final_idx, final_obs, final_infos = [], [], []
        for i, slot in enumerate(self.slots):
            a = actions[i]
            if a.ndim == 0:
                a = int(a)
            o, r, te, tr, info = slot.step(a)
            rewards.append(r)
            term.append(te)
            trunc.append(tr)
            if autoreset and (te or tr):
                final_idx.append(i)
                final_obs.append(o)
                final_infos.append(info_dict(info))
                o, info = slot.reset(None)
            obs.append(o)
            infos.append(info_dict(info))
        arrays = [
            ("obs", stack(obs)),
            ("reward", np.asarray(rewards, np.float64)),
            ("terminated", np.asarray(term, np.uint8)),
            ("truncated", np.asarray(trunc, np.uint8)),
        ]
        reply = {"op": "ok", "infos": infos}
        if final_idx:
            reply["final"] = final_idx
            reply["final_infos"] = final_infos
            arrays.append(("final_obs", stack(final_obs)))
        return reply, arrays

    # render / state -----------------------------------------------------------------------
    def slot(self, req):
        self.require()
        i = int(req.get("index", 0))
        if not 0 <= i < len(self.slots):
            raise BridgeError("bad_request", f"index {i} out of range [0, {len(self.slots)})")
        return self.slots[i]

    def op_render(self, req, payload):
        slot = self.slot(req)
        frame = slot.frame()
        size = req.get("size")
        if size:
            chw = Resizer(int(size), False)(frame)
            frame = np.ascontiguousarray(chw.transpose(1, 2, 0))
        if frame.ndim == 2:
            frame = frame[:, :, None]
        if frame.shape[2] == 1:
            frame = np.repeat(frame, 3, axis=2)
        return {"op": "ok"}, [("frame", np.ascontiguousarray(frame[:, :, :3]))]

    def op_get_state(self, req, payload):
        slot = self.slot(req)
        return {"op": "ok"}, [("state", get_state(slot.env))]

    def op_set_state(self, req, payload):
        slot = self.slot(req)
        state = payload_arrays(req, payload)["state"]
        obs = set_state(slot.env, state)
        return {"op": "ok"}, [("obs", slot.observe(obs))]

    def op_ping(self, req, payload):
        """Answers at once (measures the bridge's round trip)."""
        return {"op": "ok"}, []

    def op_stats(self, req, payload):
        """Requests served and this thread's CPU seconds in the protocol and in the work."""
        return {
            "op": "ok",
            "requests": self.requests,
            "cpu_protocol": self.cpu_protocol,
            "cpu_work": self.cpu_work,
        }, []

    def op_close(self, req, payload):
        for slot in self.slots:
            try:
                slot.env.close()
            except Exception:
                pass
        self.slots = []
        return {"op": "ok", "closing": True}, []


def error_reply(e):
    tb = traceback.format_exc()
    if isinstance(e, BridgeError):
        kind, missing = e.kind, e.missing
        cause = e.__cause__
        if cause is not None:
            tb = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    else:
        kind, missing = "env_error", []
    etype = type(e.__cause__ or e) if isinstance(e, BridgeError) else type(e)
    return {
        "op": "error",
        "kind": kind,
        "type": etype.__module__ + "." + etype.__qualname__,
        "message": str(e),
        "traceback": tb,
        "missing": missing,
    }


def main(argv):
    if len(argv) != 3 or argv[1] != "--fifo":
        sys.stderr.write("usage: host.py --fifo DIR (started by worldflux)\n")
        return 2
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError, AttributeError):
        pass
    os.dup2(2, 1)  # anything printed (by Python or C code) goes to stderr, never into a frame
    req_path = os.path.join(argv[2], "req")
    rep_path = os.path.join(argv[2], "rep")
    os.mkfifo(req_path, 0o600)
    os.mkfifo(rep_path, 0o600)
    stdin = open(req_path, "rb", buffering=0)  # requests (same order of opens as the parent)
    out_fd = os.open(rep_path, os.O_WRONLY)  # replies
    try:  # Linux: room for a whole reply (8 Atari frames are 98 KiB), one write and one wake-up
        import fcntl

        fcntl.fcntl(out_fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass
    write_frame(out_fd, hello())
    host = Host(out_fd)
    clock = time.thread_time
    while True:
        t0 = clock()  # (blocking in the read below costs no CPU time)
        try:
            req, payload = read_frame(stdin)
        except BridgeError as e:
            write_frame(out_fd, error_reply(e))
            return 2
        if req is None:
            return 0
        t1 = clock()
        try:
            reply, arrays = host.handle(req, payload)
        except Exception as e:  # noqa: BLE001 - every failure goes back to the parent
            reply, arrays = error_reply(e), []
        t2 = clock()
        try:
            write_frame(out_fd, reply, arrays)
        except BrokenPipeError:
            return 0
        host.requests += 1
        host.cpu_work += t2 - t1
        host.cpu_protocol += (t1 - t0) + (clock() - t2)
        if reply.get("closing"):
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
