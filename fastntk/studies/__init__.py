"""Studies built on fastntk's kernels (each a module with a ``run_study`` function and a CLI command).

Nothing is imported here: each study loads its own (possibly optional) dependencies when run.
"""
