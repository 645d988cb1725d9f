"""Plain Keras 3 model builders, one family per file, in one registry.

Importing this package registers every family. No module here imports TFX.
"""

from models import autoencoder, cnn, dbn, gan, rnn, seq2seq, vae  # noqa: F401  (registers the families)
from models.registry import get, names, register  # noqa: F401
