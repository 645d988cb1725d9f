"""The attention seq2seq family (models/seq2seq.py), its attention layers and decode loops."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import models.seq2seq  # noqa: F401  (registers 'seq2seq')
from models import registry
from models.base import SEQ2SEQ, DataSpec, FeatureInfo
from models.features.translation import END_ID, PAD_ID, RESERVED_TOKENS, START_ID
from models.layers.attention import BahdanauAttention, LuongAttention, masked_softmax
from models.layers.decoding import beam_search_decode, greedy_decode
from models.seq2seq import DECODER_INPUT, decode, exact_match, shift_targets

SRC_VOCAB, TGT_VOCAB = 20, 9


def spec(length: int = 7) -> DataSpec:
    return DataSpec({"source_ids": FeatureInfo((length,), "int64")}, "target", None,
                    extras={"vocab_sizes": {"source": SRC_VOCAB, "target": TGT_VOCAB}})


def build(length: int = 7, **overrides: object) -> tuple[keras.Model, object]:
    keras.utils.set_random_seed(3)
    family = registry.get("seq2seq")
    hp = family.hparams({"units": 8, "embedding_dim": 6, "dropout": 0.0, "max_decode_length": 6,
                         **overrides})
    return family.build(hp, spec(length)), hp


def numpy(x: object) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def sources(length: int = 7) -> np.ndarray:
    ids = np.array([[5, 6, 7, 8, 9, 0, 0], [4, 11, 3, 0, 0, 0, 0], [12, 13, 14, 15, 16, 17, 18]], "int64")
    return np.pad(ids, ((0, 0), (0, length - 7)))


def test_defaults_are_the_transform_contract() -> None:
    hp = registry.get("seq2seq").hparams()
    assert (hp.pad_id, hp.start_id, hp.end_id) == (PAD_ID, START_ID, END_ID)
    assert RESERVED_TOKENS[:3] == ("<pad>", "<s>", "</s>")
    assert (hp.source_feature, hp.source_vocab, hp.target_vocab) == ("source_ids", "source", "target")
    assert registry.get("seq2seq").task == SEQ2SEQ


@pytest.mark.parametrize("overrides", [
    {"attention": "bahdanau", "cell": "gru"},
    {"attention": "luong", "cell": "lstm", "bidirectional_encoder": False},
    {"attention": None, "cell": "lstm", "encoder_layers": 2},
])
def test_training_model_gives_next_token_logits(overrides: dict) -> None:
    model, _ = build(**overrides)
    logits = model({"source_ids": sources(), DECODER_INPUT: np.ones((3, 4), "int64")})
    assert tuple(logits.shape) == (3, 4, TGT_VOCAB)
    _, mask, *states = model.get_layer("encoder")(sources())
    assert len(states) == (2 if overrides["cell"] == "lstm" else 1)
    assert numpy(mask).tolist()[1] == [True] * 3 + [False] * 4


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_attention_ignores_padding(attention: str) -> None:
    model, hp = build(attention=attention)
    weights = numpy(decode(model, hp, sources())["weights"])
    lengths = [5, 3, 7]
    for row, n in enumerate(lengths):
        assert np.all(weights[row, :, n:] == 0.0)
        alive = weights[row].sum(-1) > 0
        np.testing.assert_allclose(weights[row][alive].sum(-1), 1.0, rtol=1e-5)
    # The same weights on a longer source length (more padding) decode the same.
    longer, _ = build(11, attention=attention)
    longer.set_weights(model.get_weights())
    out = decode(longer, hp, sources(11))
    np.testing.assert_array_equal(numpy(out["ids"]), numpy(decode(model, hp, sources())["ids"]))
    np.testing.assert_allclose(numpy(out["weights"])[:, :, :7], weights, atol=1e-6)


@pytest.mark.parametrize("overrides", [{"attention": "bahdanau"}, {"attention": "luong", "cell": "lstm"},
                                       {"attention": None}])
def test_greedy_decoding_replays_the_teacher_forced_model(overrides: dict) -> None:
    """Inference and training share one step: feeding the decoded ids back reproduces them."""
    model, hp = build(**overrides)
    out = decode(model, hp, sources())
    ids = numpy(out["ids"])
    decoder_input = np.concatenate([np.full((3, 1), START_ID), ids[:, :-1]], axis=1)
    logits, weights = model.get_layer("decoder")(
        decoder_input, model.get_layer("encoder")(sources())[2:],
        model.get_layer("encoder")(sources())[0], mask=sources() != 0)
    replay = numpy(keras.ops.argmax(logits, -1))
    for row, n in enumerate(numpy(out["lengths"])):
        steps = min(n + 1, hp.max_decode_length)  # the tokens and the end token
        np.testing.assert_array_equal(replay[row, :steps], ids[row, :steps])
        np.testing.assert_allclose(numpy(weights)[row, :steps], numpy(out["weights"])[row, :steps],
                                   atol=1e-5)


def test_beam_of_one_is_greedy_and_wider_beams_score_at_least_as_well() -> None:
    model, hp = build(attention="bahdanau")
    greedy = numpy(decode(model, hp, sources())["ids"])
    hp.beam_width, hp.length_penalty = 1, 0.0
    np.testing.assert_array_equal(numpy(decode(model, hp, sources(), beam=True)["ids"]), greedy)
    hp.beam_width = 3
    wide = decode(model, hp, sources(), beam=True)
    assert numpy(wide["beam_ids"]).shape == (3, 3, hp.max_decode_length)
    hp.beam_width = 1
    narrow = decode(model, hp, sources(), beam=True)
    assert np.all(numpy(wide["scores"]) >= numpy(narrow["scores"]) - 1e-5)


# --- decode loops on a hand-made step function ------------------------------------------

def table_step(table: np.ndarray) -> object:
    """A bigram 'model': logits of the next token depend on the previous one only."""
    def step(prev: object, carry: object) -> tuple[object, object, object]:
        return keras.ops.take(table, prev, axis=0), carry, keras.ops.ones((keras.ops.shape(prev)[0], 2)) * 0.5
    return step


def bigram_table() -> np.ndarray:
    table = np.full((6, 6), -20.0, "float32")
    table[START_ID, 4], table[START_ID, 5] = np.log(0.55), np.log(0.45)
    table[4, 3], table[4, 5] = np.log(0.5), np.log(0.5)       # after 4: two ways, 0.5 each
    table[5, 3] = np.log(0.99)                                 # after 5: almost surely 3
    table[3, END_ID] = 0.0
    table[END_ID, 3] = 0.0
    return table


def sequence_log_prob(table: np.ndarray, ids: list[int]) -> float:
    logp = table - np.log(np.exp(table).sum(-1, keepdims=True))
    prev, total = START_ID, 0.0
    for token in ids:
        total += logp[prev, token]
        if token == END_ID:
            break
        prev = token
    return total


def test_greedy_decode_stops_at_the_end_token_and_pads() -> None:
    out = greedy_decode(table_step(bigram_table()), keras.ops.zeros((2, 1)), 2, 2,
                        start_id=START_ID, end_id=END_ID, max_length=6)
    assert numpy(out["ids"]).tolist() == [[4, 3, END_ID, 0, 0, 0]] * 2
    assert numpy(out["lengths"]).tolist() == [2, 2]
    np.testing.assert_allclose(numpy(out["weights"])[0, :, 0], [0.5, 0.5, 0.5, 0, 0, 0])


def test_beam_search_finds_the_more_likely_sequence_and_scores_it() -> None:
    table = bigram_table()
    out = beam_search_decode(table_step(table), keras.ops.zeros((1, 1)), 1, 2, start_id=START_ID,
                             end_id=END_ID, max_length=6, beam_width=3, length_penalty=0.0)
    best = numpy(out["ids"])[0].tolist()
    # Greedy takes 4 (0.55) then 3 or 5 (0.5): 0.275; the beam finds 5, 3 (0.45 * 0.99).
    assert best == [5, 3, END_ID, 0, 0, 0]
    np.testing.assert_allclose(float(numpy(out["scores"])[0]), sequence_log_prob(table, best), rtol=1e-4)
    assert numpy(out["lengths"]).tolist() == [2]


def test_beam_search_length_penalty_prefers_longer_hypotheses() -> None:
    table = np.full((6, 6), -20.0, "float32")
    table[START_ID, END_ID], table[START_ID, 4] = np.log(0.4), np.log(0.6)
    table[4, 4], table[4, END_ID] = np.log(0.7), np.log(0.3)
    step = table_step(table)
    kwargs = {"start_id": START_ID, "end_id": END_ID, "max_length": 4, "beam_width": 4}
    short = beam_search_decode(step, keras.ops.zeros((1, 1)), 1, 2, length_penalty=0.0, **kwargs)
    long = beam_search_decode(step, keras.ops.zeros((1, 1)), 1, 2, length_penalty=2.0, **kwargs)
    assert numpy(short["lengths"])[0] == 0            # "</s>" alone: 0.4 beats 0.6 * 0.3
    assert numpy(long["lengths"])[0] > 0


def test_decode_loops_run_in_a_graph_with_unknown_batch() -> None:
    table = bigram_table()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32)])
    def run(dummy: tf.Tensor) -> tf.Tensor:
        batch = tf.shape(dummy)[0]
        carry = tf.zeros([batch, 1])
        greedy = greedy_decode(table_step(table), carry, batch, 2, start_id=START_ID, end_id=END_ID,
                               max_length=5)
        beam = beam_search_decode(table_step(table), carry, batch, 2, start_id=START_ID, end_id=END_ID,
                                  max_length=5, beam_width=2)
        return greedy["ids"], beam["ids"]

    greedy, beam = run(tf.zeros([3], tf.int32))
    assert greedy.shape == (3, 5) and beam.shape == (3, 5)


# --- attention layers ---------------------------------------------------------------------

def test_masked_softmax_and_attention_layers() -> None:
    mask = np.array([[True, True, True, False]])
    weights = numpy(masked_softmax(np.array([[1.0, 2.0, 3.0, 100.0]]), mask))
    np.testing.assert_allclose(weights[0, :3], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum(), rtol=1e-5)
    assert weights[0, 3] == 0.0
    values = np.random.default_rng(0).normal(size=(1, 4, 3)).astype("float32")
    for layer in (BahdanauAttention(5), LuongAttention("general"), LuongAttention("dot")):
        context, w = layer(np.ones((1, 3), "float32"), values, mask=mask)
        np.testing.assert_allclose(numpy(context), (numpy(w)[:, :, None] * values).sum(1), rtol=1e-5)
        assert numpy(w)[0, 3] == 0.0
    with pytest.raises(ValueError, match="score must be one of"):
        LuongAttention("concat")


def _softmax(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    e = np.exp(scores - np.where(mask, scores, -np.inf).max(-1, keepdims=True)) * mask
    return e / e.sum(-1, keepdims=True)


def _kernel(dense: keras.layers.Dense) -> np.ndarray:
    return numpy(dense.kernel)


@pytest.mark.parametrize("kind", ["bahdanau", "luong_general", "luong_dot"])
def test_attention_weights_are_the_softmax_of_the_score_function(kind: str) -> None:
    """The weights follow the layer's own score function, computed here in numpy from its weights:
    additive ``v^T tanh(W_h h + W_s s + b)`` or multiplicative ``s^T W h`` / ``s^T h``."""
    rng = np.random.default_rng(0)
    width = 6
    query = rng.normal(size=(3, width)).astype("float32")
    values = rng.normal(size=(3, 5, width if kind == "luong_dot" else 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
    keras.utils.set_random_seed(0)
    if kind == "bahdanau":
        layer = BahdanauAttention(7)
        layer.build(query.shape, values.shape)
        layer.query_dense.bias.assign(rng.normal(size=7).astype("float32"))
        hidden = np.tanh(values @ _kernel(layer.key_dense)
                         + (query @ _kernel(layer.query_dense) + numpy(layer.query_dense.bias))[:, None])
        scores = (hidden @ _kernel(layer.energy))[..., 0]
    else:
        layer = LuongAttention(kind.split("_")[1])
        layer.build(query.shape, values.shape)
        keys = values @ _kernel(layer.key_dense) if kind == "luong_general" else values
        scores = np.einsum("bd,bsd->bs", query, keys)
    assert np.ptp(scores[0]) > 0.1  # the scores are far from uniform: the check below has teeth
    context, weights = layer(query, values, mask=mask)
    expected = _softmax(scores, mask)
    np.testing.assert_allclose(numpy(weights), expected, atol=1e-5)
    np.testing.assert_allclose(numpy(context), np.einsum("bs,bsd->bd", expected, values), atol=1e-5)
    # The precomputed keys (what decoding passes every step) give the same weights.
    _, again = layer(query, values, keys=layer.prepare(values), mask=mask)
    np.testing.assert_allclose(numpy(again), expected, atol=1e-5)


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_decoder_attention_depends_on_the_decoder_state(attention: str) -> None:
    """Different decoder steps attend differently: the weights are not a fixed function of the mask."""
    model, hp = build(attention=attention)
    weights = numpy(decode(model, hp, sources())["weights"])
    row = weights[2]  # the unpadded source
    assert np.abs(row[0] - row[1]).max() > 1e-4 or np.abs(row[1] - row[2]).max() > 1e-4
    assert np.ptp(row[0]) > 1e-4  # not uniform over the source


# --- training, signatures, errors ----------------------------------------------------------

def reverse_task(n: int = 256, length: int = 4) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(0)
    src = rng.integers(4, TGT_VOCAB, (n, length))
    target = np.concatenate([np.full((n, 1), START_ID), src[:, ::-1], np.full((n, 1), END_ID)], 1)
    return {"source_ids": np.pad(src, ((0, 0), (0, 7 - length)))}, target


def test_train_uses_teacher_forcing_and_learns() -> None:
    model, hp = build(attention="bahdanau", units=24, learning_rate=1e-2, epochs=4, batch_size=32)
    features, target = reverse_task()
    dataset = tf.data.Dataset.from_tensor_slices((features, target)).batch(32)
    history = registry.get("seq2seq").train(model, hp, dataset, dataset)
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert "val_sparse_categorical_accuracy" in history
    _, labels, weights = shift_targets(target)
    assert numpy(weights).sum() == labels.shape[0] * 5  # 4 tokens and the end token


def test_exact_match_compares_up_to_the_end_token() -> None:
    predicted = np.array([[5, 6, END_ID, 0], [5, 6, 7, 8], [5, END_ID, 0, 0]])
    target = np.array([[START_ID, 5, 6, END_ID, 0]] * 3)
    assert exact_match(predicted, target) == [1.0, 0.0, 0.0]


def test_translate_signatures_return_strings_ids_and_attention(tmp_path: object) -> None:
    vocab = tmp_path / "target"
    vocab.write_text("\n".join([*RESERVED_TOKENS, "a", "b", "c", "d", "\u2581"]) + "\n")
    model, hp = build(attention="luong")
    data = DataSpec(spec().features, "target", None,
                    extras={**spec().extras, "vocab_files": {"target": str(vocab)}})
    hp.output_separator = ""
    signatures = registry.get("seq2seq").signatures(model, hp, data)
    assert sorted(signatures) == ["translate", "translate_beam"]
    module = tf.Module()
    module.model = model
    spec_ = [tf.TensorSpec([None, 7], tf.int64, name="source_ids")]
    fns = {name: tf.function(lambda source_ids, fn=sig.fn: fn({"source_ids": source_ids}),
                             input_signature=spec_).get_concrete_function()
           for name, sig in signatures.items()}
    path = str(tmp_path / "saved")
    tf.saved_model.save(module, path, signatures={k: v for k, v in fns.items()})
    loaded = tf.saved_model.load(path)
    tokens = list(RESERVED_TOKENS) + ["a", "b", "c", "d", " "]
    for name in signatures:
        out = loaded.signatures[name](source_ids=tf.constant(sources()))
        assert out["attention"].shape == (3, hp.max_decode_length, 7)
        for text, ids, n in zip(out["translation"].numpy(), out["token_ids"].numpy(), out["length"].numpy()):
            assert text.decode() == "".join(tokens[i] for i in ids[:n])


def test_bad_settings_raise_clear_errors() -> None:
    family = registry.get("seq2seq")
    assert family.hparams({"attention": "none"}).attention is None
    with pytest.raises(ValueError, match="attention must be one of"):
        family.hparams({"attention": "dot-product"})
    with pytest.raises(ValueError, match="cell must be one of"):
        family.hparams({"cell": "simple_rnn"})
    model, hp = build()
    with pytest.raises(ValueError, match="no vocabulary file 'target'"):
        family.signatures(model, hp, spec())
    with pytest.raises(ValueError, match="no vocabulary 'source'"):
        family.build(hp, DataSpec(spec().features, "target", None))


def test_mixed_precision_trains_and_decodes() -> None:
    model, hp = build(precision="mixed_float16", attention="bahdanau")
    features, target = reverse_task(32)
    dataset = tf.data.Dataset.from_tensor_slices((features, target)).batch(16)
    registry.get("seq2seq").train(model, hp, dataset, None)
    out = decode(model, hp, sources())
    assert np.isfinite(numpy(out["weights"])).all()
    assert model.get_layer("decoder").compute_dtype == "float16"
