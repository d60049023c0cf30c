"""Runs: one module per command's work (optimize with its refresh, evaluate, size). Each takes plain typed
arguments (a loaded Config, paths, a TimeBudget, a Reporter for progress) and returns a frozen result that the
command writes (`terrplan.write`) and whose failure it raises (the exit code is the error's, `terrplan.errors`).
No click here, and no output files: only size's scenarios write their own folders, as a sweep's do."""
