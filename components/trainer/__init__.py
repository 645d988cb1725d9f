"""The generic Trainer: one TFX module file (``module.run_fn``) for every family."""
