"""Test-only Gymnasium environments for tests/envs/gym_test.ts (registered on import).

- WorldfluxCrash-v0: raises RuntimeError("boom at step 3") on its third step.
- WorldfluxExit-v0: writes a line to stderr and kills its process (exit code 3) on its second step.
- WorldfluxSleep-v0: sleeps `sleep` seconds (kwarg, default 30) in every step.
- WorldfluxPrint-v0: prints to stdout in reset and step (must not disturb the protocol).
"""

import os
import sys
import time

import gymnasium as gym
import numpy as np


class _Base(gym.Env):
    def __init__(self, sleep=30.0):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0
        self.sleep = sleep

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def obs(self):
        return np.full(2, self.t / 100.0, np.float32)


class Crash(_Base):
    def step(self, action):
        self.t += 1
        if self.t == 3:
            raise RuntimeError("boom at step 3")
        return self.obs(), 1.0, False, False, {}


class Exit(_Base):
    def step(self, action):
        self.t += 1
        if self.t == 2:
            sys.stderr.write("fatal: simulated crash of the environment\n")
            sys.stderr.flush()
            os._exit(3)
        return self.obs(), 1.0, False, False, {}


class Sleep(_Base):
    def step(self, action):
        self.t += 1
        time.sleep(self.sleep)
        return self.obs(), 1.0, False, False, {}


class Print(_Base):
    def reset(self, *, seed=None, options=None):
        print("hello from reset")
        return super().reset(seed=seed, options=options)

    def step(self, action):
        self.t += 1
        print("hello from step", self.t)
        os.write(1, b"raw bytes on fd 1\n")
        return self.obs(), float(action), self.t >= 5, False, {"t": self.t}


for _name, _cls in (("Crash", Crash), ("Exit", Exit), ("Sleep", Sleep), ("Print", Print)):
    gym.register(id=f"Worldflux{_name}-v0", entry_point=f"{__name__}:{_cls.__name__}")
