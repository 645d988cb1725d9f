"""Attention seq2seq, as the notes define the encoder-decoder and attention.

Encoder: source ids (0 = padding) -> ``Embedding(mask_zero=True)`` -> GRU or
LSTM layers (the top one optionally bidirectional) -> outputs ``h_j`` and
final states, bridged by ``tanh(W s)`` to the decoder's initial state.
Decoder: :class:`models.layers.decoder.AttentionDecoder` with additive
(``attention="bahdanau"``), multiplicative (``"luong"``) or no attention.

``build`` returns the teacher-forced training model:
``{source_feature, "decoder_input"} -> next-token logits``. ``train`` cuts the
target ids ``[<s>, y_1 .. y_n, </s>, 0 ..]`` into decoder input (all but the
last) and labels (all but the first), with padding weighted 0.
``signatures`` decode inside the graph (greedy ``translate``, beam search
``translate_beam``): source ids in, the decoded string, its token ids and the
attention weights out. Feature and vocabulary names and the reserved target
ids (``pad_id``, ``start_id``, ``end_id``) default to the Transform's
contract, :mod:`models.features.translation`.

Example:

>>> from models import registry
>>> family = registry.get("seq2seq")
>>> hp = family.hparams({"units": 8, "embedding_dim": 4, "source_vocab_size": 20,
...                      "target_vocab_size": 9, "max_decode_length": 5})
>>> data = DataSpec({"source_ids": FeatureInfo((7,), "int64")}, "target", None)
>>> model = family.build(hp, data)
>>> model.output_shape
(None, None, 9)
>>> out = decode(model, hp, keras.ops.ones((2, 7), "int32"))
>>> tuple(out["ids"].shape), tuple(out["weights"].shape)
((2, 5), (2, 5, 7))
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any

import keras
from keras import ops

from models import registry
from models.base import SEQ2SEQ, TRANSLATE, DataSpec, FeatureInfo, ModelFamily, Signature  # noqa: F401
from models.common import PRECISIONS, check_choice, dtype_policy, make_optimizer
from models.features import translation
from models.features.text import sequence_length, vocab_size
from models.hparams import HParams
from models.layers.attention import ATTENTIONS
from models.layers.decoder import AttentionDecoder
from models.layers.decoding import beam_search_decode, greedy_decode, tile_beams
from models.layers.recurrent import StackedRNN, num_states, recurrent_layer

DECODER_INPUT = "decoder_input"


@dataclasses.dataclass(kw_only=True)
class Seq2SeqHParams(HParams):
    cell: str = "gru"                    # "gru" or "lstm", encoder and decoder
    embedding_dim: int = 64
    units: int = 128
    encoder_layers: int = 1
    bidirectional_encoder: bool = True
    attention: str | None = "bahdanau"   # "bahdanau", "luong" or None (plain encoder-decoder)
    attention_units: int | None = None   # Bahdanau score width (default: units)
    dropout: float = 0.1
    learning_rate: float = 3e-3
    clipnorm: float | None = 1.0
    max_decode_length: int = 40          # decoded tokens, end token included
    beam_width: int = 4
    length_penalty: float = 0.6
    output_separator: str = " "          # between decoded tokens ("" for characters)
    source_feature: str = translation.SOURCE_IDS
    source_vocab: str = translation.SOURCE_VOCAB
    target_vocab: str = translation.TARGET_VOCAB
    source_vocab_size: int | None = None  # override the Transform vocabulary sizes
    target_vocab_size: int | None = None
    pad_id: int = translation.PAD_ID
    start_id: int = translation.START_ID
    end_id: int = translation.END_ID

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("cell", self.cell, ("gru", "lstm"))
        check_choice("attention", self.attention, (*ATTENTIONS, None))


def _encoder(hp: Seq2SeqHParams, source_length: int, source_vocab: int, policy: Any) -> keras.Model:
    """Source ids -> ``[outputs, mask, *decoder initial states]``."""
    source = keras.Input((source_length,), dtype="int64", name=hp.source_feature)
    x = keras.layers.Embedding(source_vocab, hp.embedding_dim, mask_zero=True, dtype=policy,
                               name="source_embedding")(source)
    if hp.encoder_layers > 1:
        x = StackedRNN(hp.cell, hp.units, hp.encoder_layers - 1, hp.bidirectional_encoder,
                       dropout=hp.dropout, return_sequences=True, dtype=policy, name="lower")(x)
    # Dropout as a layer, not the RNN's own (see StackedRNN): nothing random at inference.
    x = keras.layers.Dropout(hp.dropout, dtype=policy)(x)
    top = recurrent_layer(hp.cell, hp.units, return_sequences=True, return_state=True,
                          dtype=policy, name=f"encoder_{hp.cell}")
    if hp.bidirectional_encoder:
        top = keras.layers.Bidirectional(top, dtype=policy, name=f"encoder_bi_{hp.cell}")
    outputs, *states = top(x)
    n = num_states(hp.cell)
    if hp.bidirectional_encoder:  # [fwd states..., bwd states...] -> per-state concatenation
        states = [keras.layers.Concatenate(dtype=policy)([states[k], states[n + k]]) for k in range(n)]
    states = [keras.layers.Dense(hp.units, activation="tanh", dtype=policy, name=f"bridge_{k}")(s)
              for k, s in enumerate(states)]
    mask = ops.not_equal(source, hp.pad_id)
    return keras.Model(source, [outputs, mask, *states], name="encoder")


def decode(model: keras.Model, hparams: Seq2SeqHParams, source_ids: Any, beam: bool = False) -> dict[str, Any]:
    """Decodes a batch of source ids in-graph with the trained model's encoder and decoder.

    Returns :func:`models.layers.decoding.greedy_decode`'s (or, with ``beam``,
    ``beam_search_decode``'s) dict: ``ids``, ``weights``, ``lengths`` (and ``scores``).
    """
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    values, mask, *states = encoder(source_ids, training=False)
    memory = decoder.memory(values, mask)
    carry = decoder.initial_carry(states, values)
    batch, source_length = ops.shape(source_ids)[0], source_ids.shape[1]
    ids = {"start_id": hparams.start_id, "end_id": hparams.end_id, "pad_id": hparams.pad_id,
           "max_length": hparams.max_decode_length}
    if not beam:
        return greedy_decode(lambda t, c: decoder.step(t, c, memory), carry, batch, source_length, **ids)
    tiled = tile_beams(memory, hparams.beam_width)
    return beam_search_decode(lambda t, c: decoder.step(t, c, tiled), carry, batch, source_length,
                              beam_width=hparams.beam_width, length_penalty=hparams.length_penalty, **ids)


def shift_targets(target_ids: Any, pad_id: int = 0) -> tuple[Any, Any, Any]:
    """``[<s>, y.., </s>, pad..]`` -> decoder input, next-token labels and their 0/1 weights.

    >>> inputs, labels, weights = shift_targets(keras.ops.array([[1, 5, 6, 2, 0]]))
    >>> [keras.ops.convert_to_numpy(t).tolist() for t in (inputs, labels, weights)]
    [[[1, 5, 6, 2]], [[5, 6, 2, 0]], [[1.0, 1.0, 1.0, 0.0]]]
    """
    labels = target_ids[:, 1:]
    return target_ids[:, :-1], labels, ops.cast(ops.not_equal(labels, pad_id), "float32")


def exact_match(predicted_ids: Any, target_ids: Any, end_id: int = 2, pad_id: int = 0) -> Any:
    """Per-example 1.0 where the decoded tokens up to ``end_id`` equal the target's.

    ``target_ids`` are the Transform's ``[<s>, y.., </s>, pad..]``;
    ``predicted_ids`` what the decode loops return.

    >>> exact_match(keras.ops.array([[5, 6, 2, 0], [5, 7, 2, 0]]), keras.ops.array([[1, 5, 6, 2], [1, 5, 6, 2]]))
    [1.0, 0.0]
    """
    def clean(ids: Any) -> list[tuple[int, ...]]:
        rows = []
        for row in ops.convert_to_numpy(ids).tolist():
            row = [t for t in row if t != pad_id]
            rows.append(tuple(row[:row.index(end_id)] if end_id in row else row))
        return rows

    targets = [t[1:] for t in clean(target_ids)]  # drop <s>
    return [float(p == t) for p, t in zip(clean(predicted_ids), targets)]


def read_vocabulary(path: str) -> list[str]:
    """Tokens of a Transform text vocabulary file, one per line (spaces kept)."""
    import tensorflow as tf  # the vocabulary may live on any tf.io file system

    with tf.io.gfile.GFile(path, "r") as f:
        return [line.rstrip("\n") for line in f]


@registry.register
class Seq2Seq(ModelFamily):
    name = "seq2seq"
    hparams_cls = Seq2SeqHParams
    task = SEQ2SEQ
    main_signature = "translate"
    signature_roles = types.MappingProxyType({"translate": TRANSLATE, "translate_beam": TRANSLATE})
    precisions = PRECISIONS
    supports_jit_compile = False  # decoding writes a TensorArray without a maximum size

    def build(self, hparams: Seq2SeqHParams, data: DataSpec) -> keras.Model:
        hp = hparams
        policy = dtype_policy(hp.precision)
        source_length = sequence_length(data, hp.source_feature)
        encoder = _encoder(hp, source_length, vocab_size(data, hp.source_vocab, hp.source_vocab_size),
                           policy)
        decoder = AttentionDecoder(vocab_size(data, hp.target_vocab, hp.target_vocab_size),
                                   hp.embedding_dim, hp.cell, hp.units, hp.attention,
                                   hp.attention_units, hp.dropout, dtype=policy, name="decoder")
        source = keras.Input((source_length,), dtype="int64", name=hp.source_feature)
        decoder_input = keras.Input((None,), dtype="int64", name=DECODER_INPUT)
        values, mask, *states = encoder(source)
        logits, _ = decoder(decoder_input, states, values, mask=mask)
        model = keras.Model({hp.source_feature: source, DECODER_INPUT: decoder_input}, logits,
                            name="seq2seq")
        model.compile(optimizer=make_optimizer(hp),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=["sparse_categorical_accuracy"])
        return model

    def teacher_forcing(self, hparams: Seq2SeqHParams, dataset: Any) -> Any:
        """Maps ``(features, target_ids)`` batches to ``(inputs, labels, weights)`` for ``fit``."""
        def split(features: Mapping[str, Any], target_ids: Any) -> tuple[Any, Any, Any]:
            decoder_input, labels, weights = shift_targets(target_ids, hparams.pad_id)
            return ({hparams.source_feature: features[hparams.source_feature],
                     DECODER_INPUT: decoder_input}, labels, weights)
        return dataset.map(split)

    def train(self, model: keras.Model, hparams: Seq2SeqHParams, train_ds: Any, eval_ds: Any,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        eval_ds = self.teacher_forcing(hparams, eval_ds) if eval_ds is not None else None
        return super().train(model, hparams, self.teacher_forcing(hparams, train_ds), eval_ds, callbacks)

    def signatures(self, model: keras.Model, hparams: Seq2SeqHParams, data: DataSpec) -> dict[str, Signature]:
        import tensorflow as tf  # export runs on TensorFlow: ids -> strings

        files = data.extras.get("vocab_files", {})
        if hparams.target_vocab not in files:
            raise ValueError(f"no vocabulary file '{hparams.target_vocab}' in the data "
                             f"(known: {sorted(files)}); the translate signature needs it")
        vocabulary = read_vocabulary(files[hparams.target_vocab])
        reserved = {"pad_id": hparams.pad_id, "start_id": hparams.start_id, "end_id": hparams.end_id}
        for name, token_id in reserved.items():
            if token_id >= len(vocabulary):
                raise ValueError(f"{name}={token_id} is outside the target vocabulary of {len(vocabulary)} tokens")
        tokens = tf.constant(vocabulary)

        def make(beam: bool) -> Any:
            def translate(features: Mapping[str, Any]) -> dict[str, Any]:
                out = decode(model, hparams, features[hparams.source_feature], beam=beam)
                keep = tf.sequence_mask(out["lengths"], hparams.max_decode_length)
                words = tf.ragged.boolean_mask(tf.gather(tokens, out["ids"]), keep)
                text = tf.strings.reduce_join(words, axis=-1, separator=hparams.output_separator)
                return {"translation": tf.strings.regex_replace(text, translation.SPACE_MARKER, " "),
                        "token_ids": tf.cast(out["ids"], tf.int64),
                        "attention": out["weights"],
                        "length": tf.cast(out["lengths"], tf.int64)}
            return translate

        return {"translate": Signature(make(beam=False)), "translate_beam": Signature(make(beam=True))}
