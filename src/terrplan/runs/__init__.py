"""Runs: one module per command's work (optimize with its refresh, evaluate, size). Each takes plain typed
arguments (a loaded Config, paths, a TimeBudget, a Reporter for progress) and returns a frozen result that the
command writes (`terrplan.write`) and turns into an exit code; no click here, and nothing written but progress."""
