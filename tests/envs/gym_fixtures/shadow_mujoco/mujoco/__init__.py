# Test fixture: makes `import mujoco` fail as if mujoco were not installed.
raise ModuleNotFoundError("No module named 'mujoco'", name="mujoco")
