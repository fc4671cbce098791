# Test fixture: makes `import ale_py` fail as if ale-py were not installed.
raise ModuleNotFoundError("No module named 'ale_py'", name="ale_py")
