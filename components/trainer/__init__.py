"""The generic Trainer: one TFX module file (``module.run_fn``) for every family."""

# Written by ``module.run_fn`` into the Trainer's ``model_run`` artifact; read by reports.
HISTORY_FILE = "history.json"
# Set by a quiet ``zoo run`` (pipelines/runner.py): the real terminal's file
# descriptor, where the Trainer draws its epoch progress (progress.py).
PROGRESS_FD_ENV = "ZOO_PROGRESS_FD"
