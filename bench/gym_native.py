"""Gymnasium's own stepping rate, for bench/gym_throughput.ts (run by it; prints one JSON line).

    python bench/gym_native.py ENV_ID NUM_ENVS STEPS MODE

Prints env steps per second of wall time and per second of this process's CPU time (the latter
barely depends on what else the machine runs).

MODE `host`: the worldflux host's own code (src/envs/gym/host.py: the same environments, the same
pre-processing, the same observation copies) called in this process, without the pipes: what the
bridge would do at zero transport cost. MODE `plain`: Gymnasium as a Python user runs it,
`gymnasium.make(ENV_ID)` (ALE v5 with its own frameskip 4 and 210x160 frames) or, for NUM_ENVS > 1,
`gymnasium.make_vec(..., vectorization_mode="sync")`. Random actions; only stepping is timed.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "envs", "gym"))
import host  # noqa: E402  (sets the BLAS thread variables before numpy is imported)

host.import_required()
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402


def main():
    env_id, n, steps, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    rng = np.random.default_rng(0)
    if env_id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    if mode == "host":
        h = host.Host(-1)
        reply, _ = h.op_make({"id": env_id, "num_envs": n, "vector": n > 1, "options": {}}, b"")
        space = reply["action_space"]
        h.op_reset({"seeds": list(range(n))}, b"")
        if space["kind"] == "discrete":
            actions = [rng.integers(0, space["n"], (n,)).astype(np.int32) for _ in range(64)]
        else:
            actions = [rng.uniform(-1, 1, (n, *space["shape"])).astype(np.float32) for _ in range(64)]
        t = time.perf_counter()
        c = time.process_time()
        for i in range(steps):
            a = actions[i % 64]
            _, out = h.op_step({"arrays": [["actions", a.dtype.name, list(a.shape), 0]]}, a.tobytes())
            if h.single and (out[2][1][0] or out[3][1][0]):  # one env: no autoreset
                h.op_reset({"seeds": None}, b"")
        dt = time.perf_counter() - t
        cpu = time.process_time() - c
    else:
        env = gym.make(env_id) if n == 1 else gym.make_vec(env_id, num_envs=n, vectorization_mode="sync")
        env.reset(seed=0)
        sample = [env.action_space.sample() for _ in range(64)]
        t = time.perf_counter()
        c = time.process_time()
        for i in range(steps):
            _, _, term, trunc, _ = env.step(sample[i % 64])
            if n == 1 and (term or trunc):
                env.reset()
        dt = time.perf_counter() - t
        cpu = time.process_time() - c
    print(json.dumps({"env_steps_per_sec": steps * n / dt, "env_steps_per_cpu_sec": steps * n / cpu}))


if __name__ == "__main__":
    main()
