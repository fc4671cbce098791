"""Test-only Gymnasium environments for tests/envs/gym_test.ts (registered on import).

- WorldfluxCrash-v0: raises RuntimeError("boom at step 3") on its third step.
- WorldfluxExit-v0: writes a line to stderr and kills its process (exit code 3) on its second step.
- WorldfluxSleep-v0: sleeps `sleep` seconds (kwarg, default 30) in every step.
- WorldfluxPrint-v0: prints to stdout in reset and step (must not disturb the protocol).
- WorldfluxImage-v0: uint8 [24, 32, 3] observations and [40, 30, 3] rgb_array renders whose pixel
  (y, x, c) is (7 y + 3 x + 50 c + t) % 256; actions Discrete(3, start=-1), reward = the action;
  terminates at t = 10, time limit 9.
- WorldfluxDict-v0: a Dict observation space (Box [2] and Discrete 3).
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


class Image(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, (24, 32, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(3, start=-1)
        self.t = 0

    def picture(self, h, w):
        y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
        return ((7 * y + 3 * x + 50 * c + self.t) % 256).astype(np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.picture(24, 32), {}

    def step(self, action):
        assert self.action_space.contains(action), action
        self.t += 1
        return self.picture(24, 32), float(action), self.t >= 10, False, {"t": self.t}

    def render(self):
        return self.picture(40, 30) if self.render_mode == "rgb_array" else None


class DictObs(_Base):
    def __init__(self):
        super().__init__()
        self.observation_space = gym.spaces.Dict(
            {"a": gym.spaces.Box(-1.0, 1.0, (2,), np.float32), "b": gym.spaces.Discrete(3)}
        )

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return {"a": np.array([0.5, -0.5], np.float32), "b": 2}, {}

    def step(self, action):
        self.t += 1
        return {"a": np.zeros(2, np.float32), "b": self.t % 3}, 0.0, False, False, {}


for _name, _cls in (("Crash", Crash), ("Exit", Exit), ("Sleep", Sleep), ("Print", Print), ("Dict", DictObs)):
    gym.register(id=f"Worldflux{_name}-v0", entry_point=f"{__name__}:{_cls.__name__}")
gym.register(id="WorldfluxImage-v0", entry_point=f"{__name__}:Image", max_episode_steps=9)
