"""The generic Trainer: one TFX module file (``module.run_fn``) for every family."""

# Written by ``module.run_fn`` into the Trainer's ``model_run`` artifact; read by reports.
HISTORY_FILE = "history.json"
