"""Reusable Keras layers shared between model families."""

from models.layers.attention import BahdanauAttention, LuongAttention  # noqa: F401
from models.layers.conv import ConvBlock  # noqa: F401
from models.layers.decoder import AttentionDecoder  # noqa: F401
from models.layers.decoding import beam_search_decode, greedy_decode  # noqa: F401
from models.layers.image_coder import ImageDecoder, ImageEncoder  # noqa: F401
from models.layers.rbm import RBM, ContrastiveDivergence  # noqa: F401
from models.layers.recurrent import StackedRNN  # noqa: F401
