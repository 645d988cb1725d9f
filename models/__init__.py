"""Plain Keras 3 model builders, one family per file, in one registry.

Importing this package registers every family. No module here imports TFX.
"""

# One line per family module: importing it registers the family.
from models import (
    aae,  # noqa: F401
    autoencoder,  # noqa: F401
    bert,  # noqa: F401
    cnn,  # noqa: F401
    dbn,  # noqa: F401
    esn,  # noqa: F401
    flow,  # noqa: F401
    forecaster,  # noqa: F401
    gan,  # noqa: F401
    lapgan,  # noqa: F401
    rnn,  # noqa: F401
    seq2seq,  # noqa: F401
    srgan,  # noqa: F401
    tree,  # noqa: F401
    vae,  # noqa: F401
)
from models.registry import get, names, register  # noqa: F401
