"""Reusable Keras layers shared between model families."""

from models.layers.conv import ConvBlock  # noqa: F401
