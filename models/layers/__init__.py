"""Reusable Keras layers shared between model families."""

from models.layers.conv import ConvBlock  # noqa: F401
from models.layers.image_coder import ImageDecoder, ImageEncoder  # noqa: F401
from models.layers.rbm import RBM, ContrastiveDivergence  # noqa: F401
