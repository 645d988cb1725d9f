"""The Transform-to-model contract (models/features/): the preprocessing_fns write
what the families read, and the contract stays out of the Transform's cache key's way."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from components.fingerprint import project_sources
from components.transforms import image as image_transform
from components.transforms import text as text_transform
from components.transforms import translation as translation_transform
from models import registry
from models.features import image, text, translation


def test_image_transform_writes_the_contract_names_and_scale() -> None:
    pixels = np.arange(2 * 64).reshape(2, 64) % 256
    out = image_transform.preprocessing_fn(
        {image.IMAGE: tf.constant(pixels), image.LABEL: tf.constant([3, 4])}, {"image_shape": [8, 8, 1]})
    assert set(out) == {image.IMAGE, image.LABEL}
    np.testing.assert_allclose(out[image.IMAGE].numpy(), pixels.reshape(2, 8, 8, 1) / image.MAX_VALUE, rtol=1e-6)


def test_family_defaults_read_the_contract() -> None:
    for name in ("cnn", "dbn", "vae", "autoencoder", "gan", "conditional_gan"):
        assert registry.get(name).hparams().image_key == image.IMAGE
    rnn = registry.get("rnn").hparams()
    assert (rnn.text_feature, rnn.vocab_name) == (text.ids_feature(text.TEXT), text.VOCAB)
    seq2seq = registry.get("seq2seq").hparams()
    assert (seq2seq.source_feature, seq2seq.source_vocab, seq2seq.target_vocab) == \
        (translation.SOURCE_IDS, translation.SOURCE_VOCAB, translation.TARGET_VOCAB)
    assert (seq2seq.pad_id, seq2seq.start_id, seq2seq.end_id) == (text.PAD_ID, text.START_ID, text.END_ID)


def test_transforms_share_the_contract_constants() -> None:
    assert text_transform.RESERVED_TOKENS is text.RESERVED_TOKENS
    assert text_transform.SPACE_MARKER == text.SPACE_MARKER
    assert translation_transform.SOURCE_IDS == translation.SOURCE_IDS
    assert text.RESERVED_TOKENS[text.PAD_ID] == "<pad>" and text.RESERVED_TOKENS[text.UNK_ID] == "<unk>"


def test_transform_code_does_not_depend_on_model_code() -> None:
    """The contract is plain constants: a model edit must not change a Transform's cache key."""
    for module in ("components.transforms.image", "components.transforms.text",
                   "components.transforms.translation"):
        sources = project_sources([module])
        models_reached = sorted(m for m in sources if m.split(".")[0] == "models")
        assert models_reached and all(m.startswith("models.features") for m in models_reached), models_reached
