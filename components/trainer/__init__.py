"""The generic Trainer: one TFX module file (``module.run_fn``) for every family."""

# Written by ``module.run_fn`` into the Trainer's ``model_run`` artifact; read by reports.
HISTORY_FILE = "history.json"
# Set by a quiet ``zoo run`` (pipelines/runner.py): the real terminal's file
# descriptor, where the Trainer draws its epoch progress (progress.py).
PROGRESS_FD_ENV = "ZOO_PROGRESS_FD"
# A model that starts another stage's Trainer (``save_keras`` in ``custom_config``)
# is also saved as a Keras file, beside its SavedModel in the Model artifact.
KERAS_MODEL_DIR = "Format-Keras"
KERAS_MODEL_FILE = "model.keras"


def keras_model_path(serving_model_dir: str) -> str:
    """The Keras file of the model whose SavedModel is ``serving_model_dir`` (``<uri>/Format-Serving``).

    >>> keras_model_path("/artifacts/Trainer/model/7/Format-Serving")
    '/artifacts/Trainer/model/7/Format-Keras/model.keras'
    """
    import os

    return os.path.join(os.path.dirname(serving_model_dir.rstrip("/")), KERAS_MODEL_DIR, KERAS_MODEL_FILE)
