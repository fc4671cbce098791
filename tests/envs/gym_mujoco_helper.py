#!/usr/bin/env python3
"""Gymnasium side of tests/envs/locomotion_test.ts: replays an action sequence in Gymnasium's own
MuJoCo environment and prints what it saw.

    python3 gym_mujoco_helper.py versions
        prints {"gymnasium": ..., "mujoco": ..., "numpy": ...}
    python3 gym_mujoco_helper.py replay REQUEST.json
        REQUEST: {"env": "HalfCheetah-v5", "kwargs": {...}, "seed": 0,
                  "state": null | [qpos..., qvel...], "actions": [[...], ...]}
        prints {"obs0": [...], "info0": {...}, "state0": [qpos..., qvel...],
                "obs": [[...], ...], "rewards": [...], "terminated": [...],
                "infos": [{...}, ...], "states": [[qpos..., qvel...], ...]}

The environment is made with gymnasium.make(env, **kwargs) (the registry's wrappers, TimeLimit
of 1000 steps), reset with the seed, then, when "state" is given, set to it with
unwrapped.set_state(qpos, qvel). Actions are float32 (as Gymnasium's action space). Steps go on
after a termination (the unwrapped env permits it), so both sides replay the whole sequence.
Numbers are printed as float64 values (JSON cannot hold inf: ranges in kwargs use 1e308).
Needs gymnasium with the mujoco extra and numpy; prints one JSON line on stdout.
"""

import json
import sys

import numpy as np


def as_list(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def full_state(base):
    return as_list(np.concatenate([base.data.qpos, base.data.qvel]))


def clean_info(info):
    return {k: float(v) for k, v in info.items() if np.ndim(v) == 0}


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "versions":
        import gymnasium
        import mujoco

        print(json.dumps({
            "gymnasium": gymnasium.__version__,
            "mujoco": mujoco.__version__,
            "numpy": np.__version__,
        }))
        return
    if len(sys.argv) != 3 or sys.argv[1] != "replay":
        print(__doc__)
        sys.exit(2)
    import gymnasium as gym

    with open(sys.argv[2]) as f:
        req = json.load(f)
    kwargs = {}
    for k, v in req.get("kwargs", {}).items():
        if isinstance(v, list):
            v = tuple(float("inf") if x >= 1e308 else float("-inf") if x <= -1e308 else x for x in v)
        kwargs[k] = v
    env = gym.make(req["env"], **kwargs)
    obs, info = env.reset(seed=req.get("seed", 0))
    base = env.unwrapped
    if req.get("state") is not None:
        s = np.asarray(req["state"], dtype=np.float64)
        nq = base.model.nq
        base.set_state(s[:nq], s[nq:])
        obs = base._get_obs()
        info = base._get_reset_info()
    out = {"obs0": as_list(obs), "info0": clean_info(info), "state0": full_state(base),
           "obs": [], "rewards": [], "terminated": [], "infos": [], "states": []}
    for a in req["actions"]:
        o, r, term, _trunc, inf = base.step(np.asarray(a, dtype=np.float32))
        out["obs"].append(as_list(o))
        out["rewards"].append(float(r))
        out["terminated"].append(bool(term))
        out["infos"].append(clean_info(inf))
        out["states"].append(full_state(base))
    env.close()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
