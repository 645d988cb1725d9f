"""The BERT-style families (``models/bert.py``) and their layers, on a vocabulary learned here.

The vocabulary is learned with keras-hub's WordPiece learner from a few
hundred sentences of Python's own documentation (``pydoc_data.topics``);
one tiny encoder is pretrained once for the module (a few steps) and reused.
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import registry
from models.base import BASE_MODEL, DataSpec, FeatureInfo
from models.bert import PRESETS, BertHParams, parameter_count
from models.features import wordpiece
from models.layers.bert_masking import BertMasker
from models.layers.bert_preprocessor import BertPreprocessor, wordpiece_tokenizer

LENGTH = 48  # packed length of the test encoders
SHAPE = {"sequence_length": LENGTH, "hidden_dim": 64, "intermediate_dim": 128}


def corpus_sentences() -> list[str]:
    from pydoc_data.topics import topics
    text = " ".join(topics[k] for k in sorted(topics))
    text = re.sub(r"\s+", " ", text)
    return [s for s in re.split(r"(?<=[.!?]) (?=[A-Z])", text) if 30 <= len(s) <= 200 and s.isascii()]


@pytest.fixture(scope="module")
def sentences() -> list[str]:
    return corpus_sentences()


@pytest.fixture(scope="module")
def vocab_file(tmp_path_factory: pytest.TempPathFactory, sentences: list[str]) -> str:
    import keras_hub
    vocab = keras_hub.tokenizers.compute_word_piece_vocabulary(
        tf.data.Dataset.from_tensor_slices(sentences[:600]), 1200, lowercase=True,
        reserved_tokens=list(wordpiece.RESERVED_TOKENS))
    path = str(tmp_path_factory.mktemp("vocab") / "wordpiece.txt")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    return path


def pair_data(sentences: list[str], n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """``n`` NSP pairs: half consecutive sentences (label 1), half a random second sentence (0)."""
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(sentences) - 1, n)
    labels = (np.arange(n) % 2).astype(np.int64)
    second = [sentences[s + 1] if y else sentences[rng.integers(len(sentences))] for s, y in zip(starts, labels)]
    return ({wordpiece.TEXT_A: np.array([[sentences[s]] for s in starts], dtype=object),
             wordpiece.TEXT_B: np.array([[t] for t in second], dtype=object)}, labels[:, None])


PAIR_DATA = DataSpec({wordpiece.TEXT_A: FeatureInfo((1,), "string"), wordpiece.TEXT_B: FeatureInfo((1,), "string")},
                     wordpiece.NEXT_SENTENCE, 2)


@pytest.fixture(scope="module")
def pretrained(vocab_file: str, sentences: list[str], tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny encoder pretrained for 120 steps on 64 pairs: model, hparams, losses before/after, .keras path."""
    family = registry.get("bert_pretraining")
    hp = family.hparams({**SHAPE, "vocab_file": vocab_file, "learning_rate": 1e-3, "batch_size": 16, "seed": 3,
                         "dropout": 0.0})
    keras.utils.set_random_seed(3)
    model = family.build(hp, PAIR_DATA)
    x, y = pair_data(sentences, 64, seed=0)
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    before = model.evaluate(train, return_dict=True, verbose=0)
    # NSP has to memorise pairs: it starts to fall after ~60 steps on 64 pairs
    history = model.fit(train, epochs=30, verbose=0).history
    after = model.evaluate(train, return_dict=True, verbose=0)
    path = str(tmp_path_factory.mktemp("pretrained") / "bert_pretraining.keras")
    model.save(path)
    return {"family": family, "hp": hp, "model": model, "before": before, "after": after, "history": history,
            "path": path, "x": x}


def numpy(outputs: dict) -> dict:
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


# --- hyperparameters and presets ------------------------------------------------------------------------


def test_hparams_validate() -> None:
    family = registry.get("bert_pretraining")
    with pytest.raises(ValueError, match="preset must be one of"):
        family.hparams({"preset": "large"})
    with pytest.raises(ValueError, match="multiple of num_heads"):
        family.hparams({"hidden_dim": 100, "num_heads": 3})
    with pytest.raises(ValueError, match="mask_token_rate"):
        family.hparams({"mask_token_rate": 0.95, "random_token_rate": 0.1})
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        family.hparams({"layers": 3})
    classifier = registry.get("bert_classifier")
    assert classifier.hparams({"text_keys": "text_a,text_b"}).text_keys == ("text_a", "text_b")
    assert classifier.hparams({"text_keys": ["text"]}).text_keys == ("text",)
    with pytest.raises(ValueError, match="text_keys"):
        classifier.hparams({"text_keys": ["a", "b", "c"]})


def test_presets_have_the_notes_shapes() -> None:
    import keras_hub
    assert BertHParams(preset="tiny").shape() == dict(PRESETS["tiny"])
    assert BertHParams(preset="tiny", num_layers=3).shape()["num_layers"] == 3
    base = BertHParams(preset="base").shape()
    assert (base["num_layers"], base["num_heads"], base["hidden_dim"]) == (12, 12, 768)
    # ~110M parameters with BERT's 30k vocabulary: count a real base backbone, not only the formula
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768, intermediate_dim=3072,
        max_sequence_length=512)
    assert backbone.count_params() == parameter_count(BertHParams(preset="base"))
    assert 105e6 < backbone.count_params() < 115e6


# --- tokenizer and packing ------------------------------------------------------------------------------


def test_vocabulary_starts_with_the_reserved_tokens(vocab_file: str, tmp_path) -> None:
    with open(vocab_file, encoding="utf-8") as f:
        tokens = f.read().split("\n")
    assert tuple(tokens[:5]) == wordpiece.RESERVED_TOKENS
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(["[UNK]", "[PAD]", "the"]))
    with pytest.raises(ValueError, match="must start with"):
        wordpiece_tokenizer(str(bad))


def test_tokenizer_round_trip_and_special_tokens(vocab_file: str, sentences: list[str]) -> None:
    tokenizer = wordpiece_tokenizer(vocab_file)
    checked = 0
    for sentence in sentences[:200]:
        ids = list(tokenizer(sentence))  # eagerly, keras-hub returns Python lists
        if wordpiece.UNK_ID in ids:
            continue
        text = tokenizer.detokenize(ids)
        text = text.decode() if isinstance(text, bytes) else str(text)
        words = re.findall(r"[a-z0-9]+|[^a-z0-9\s]", sentence.lower())
        assert text.split() == words, sentence
        checked += 1
    assert checked >= 50
    ids = np.array(tokenizer("[MASK] mask [CLS] [SEP] [PAD]"))
    assert ids[0] == wordpiece.MASK_ID and wordpiece.MASK_ID not in ids[1:-3]
    assert list(ids[-3:]) == [wordpiece.CLS_ID, wordpiece.SEP_ID, wordpiece.PAD_ID]


def test_preprocessor_packs_pairs_and_says_truncated(vocab_file: str) -> None:
    packer = BertPreprocessor(wordpiece_tokenizer(vocab_file), sequence_length=12)
    out = numpy(packer([tf.constant(["the function", "x " * 50, ""]), tf.constant(["returns", "y", ""])]))
    ids, segments, mask = out["token_ids"], out["segment_ids"], out["padding_mask"]
    assert ids.shape == (3, 12) and list(out["truncated"]) == [False, True, False]
    n = int(mask[0].sum())
    assert ids[0, 0] == wordpiece.CLS_ID and ids[0, n - 1] == wordpiece.SEP_ID and (ids[0, n:] == 0).all()
    first_sep = list(ids[0]).index(wordpiece.SEP_ID)
    assert (segments[0, :first_sep + 1] == 0).all() and (segments[0, first_sep + 1:n] == 1).all()
    assert list(ids[2, :3]) == [wordpiece.CLS_ID, wordpiece.SEP_ID, wordpiece.SEP_ID] and mask[2].sum() == 3
    assert mask[1].all()
    single = numpy(packer(tf.constant([["one"], [b"\xff\xfe not utf-8 \xc3"]])))
    assert single["token_ids"].shape == (2, 12) and (single["segment_ids"] == 0).all()


# --- masking ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packed_ids(vocab_file: str, sentences: list[str]) -> np.ndarray:
    packer = BertPreprocessor(wordpiece_tokenizer(vocab_file), sequence_length=64)
    return keras.ops.convert_to_numpy(packer([tf.constant(sentences[:-1]), tf.constant(sentences[1:])])["token_ids"])


def test_masking_statistics(packed_ids: np.ndarray, vocab_file: str) -> None:
    vocab_size = wordpiece_tokenizer(vocab_file).vocabulary_size()
    masker = BertMasker(vocab_size, max_selections=BertMasker.max_selections_for(64), seed=7)
    out = numpy(masker(packed_ids))
    weights = out["mask_weights"] > 0
    rows = np.nonzero(weights)[0]
    positions = out["mask_positions"][weights]
    original = packed_ids[rows, positions]
    replaced = out["token_ids"][rows, positions]
    selectable = packed_ids >= len(wordpiece.RESERVED_TOKENS)
    assert (out["mask_ids"][weights] == original).all()
    assert (original >= len(wordpiece.RESERVED_TOKENS)).all(), "a reserved token was selected"
    assert abs(weights.sum() / selectable.sum() - 0.15) < 0.01
    to_mask = np.mean(replaced == wordpiece.MASK_ID)
    unchanged = np.mean(replaced == original)
    randomised = np.mean((replaced != original) & (replaced != wordpiece.MASK_ID))
    assert abs(to_mask - 0.8) < 0.02 and abs(unchanged - 0.1) < 0.02 and abs(randomised - 0.1) < 0.02
    assert (replaced >= len(wordpiece.RESERVED_TOKENS)).sum() == (replaced != wordpiece.MASK_ID).sum()
    untouched = np.ones_like(packed_ids, dtype=bool)
    untouched[rows, positions] = False
    assert (out["token_ids"][untouched] == packed_ids[untouched]).all()
    # seeded: the same seed draws the same corruption, another seed another
    again = numpy(BertMasker(vocab_size, max_selections=10, seed=7)(packed_ids))
    other = numpy(BertMasker(vocab_size, max_selections=10, seed=8)(packed_ids))
    assert (again["token_ids"] == out["token_ids"]).all()
    assert (other["token_ids"] != out["token_ids"]).any()


def test_deterministic_masking_is_per_text(packed_ids: np.ndarray, vocab_file: str) -> None:
    masker = BertMasker(wordpiece_tokenizer(vocab_file).vocabulary_size(), max_selections=10, seed=1)
    out = numpy(masker(packed_ids[:500], deterministic=True))
    weights = out["mask_weights"] > 0
    assert (out["token_ids"][np.nonzero(weights)[0], out["mask_positions"][weights]] == wordpiece.MASK_ID).all()
    assert abs(weights.sum() / (packed_ids[:500] >= 5).sum() - 0.15) < 0.02
    # the same text gets the same selection in any batch, at any row
    shuffled = numpy(masker(packed_ids[:500][::-1], deterministic=True))
    assert (shuffled["token_ids"][::-1] == out["token_ids"]).all()
    assert (numpy(masker(packed_ids[:3], deterministic=True))["token_ids"] == out["token_ids"][:3]).all()


# --- pretraining -----------------------------------------------------------------------------------------


def test_pretraining_lowers_both_losses(pretrained: dict) -> None:
    before, after = pretrained["before"], pretrained["after"]
    assert after["mlm_loss"] < before["mlm_loss"] - 0.5
    assert after["nsp_loss"] < before["nsp_loss"] - 0.05
    assert set(pretrained["history"]) >= {"loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"}


def test_pretraining_needs_pairs_and_vocabulary(vocab_file: str) -> None:
    family = registry.get("bert_pretraining")
    with pytest.raises(ValueError, match="text_b"):
        family.build(family.hparams({"vocab_file": vocab_file}),
                     DataSpec({"text_a": FeatureInfo((), "string")}, "next_sentence", 2))
    with pytest.raises(ValueError, match="no WordPiece vocabulary 'wordpiece'"):
        family.build(family.hparams({}), PAIR_DATA)


def test_keras_round_trip(pretrained: dict) -> None:
    family, hp, model = pretrained["family"], pretrained["hp"], pretrained["model"]
    loaded = keras.saving.load_model(pretrained["path"])
    assert type(loaded).__name__ == "BertPretrainer"
    features = {k: tf.constant(v[:8]) for k, v in pretrained["x"].items()}
    a = numpy(family.signatures(model, hp, PAIR_DATA)["masked_lm"].fn(features))
    b = numpy(family.signatures(loaded, hp, PAIR_DATA)["masked_lm"].fn(features))
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6)
    text = {"text": tf.constant(["the [MASK] of a function."])}
    assert (numpy(family.signatures(loaded, hp, PAIR_DATA)["fill_mask"].fn(text))["tokens"]
            == numpy(family.signatures(model, hp, PAIR_DATA)["fill_mask"].fn(text))["tokens"]).all()


def test_fill_mask_on_bad_input(pretrained: dict) -> None:
    family, hp, model = pretrained["family"], pretrained["hp"], pretrained["model"]
    fill = family.signatures(model, hp, PAIR_DATA)["fill_mask"].fn
    texts = ["the [MASK] of a function.", "no mask at all", "", b"bytes \xff\xfe [MASK]",
             "[MASK] " * 6, "word " * 80 + "[MASK]", "a [MASK] b [MASK] c"]
    out = numpy(fill({"text": tf.constant(texts)}))
    slots, k = hp.fill_mask_slots, hp.top_k
    assert out["tokens"].shape == (7, slots, k) and out["scores"].shape == (7, slots, k)
    assert list(out["mask_count"]) == [1, 0, 0, 1, 6, 0, 2]
    assert list(out["truncated"]) == [False, False, False, False, False, True, False]
    answered = out["mask_positions"] >= 0
    assert list(answered.sum(axis=1)) == [1, 0, 0, 1, slots, 0, 2]
    assert (out["tokens"][answered] != b"").all() and (out["tokens"][~answered] == b"").all()
    assert (out["scores"][~answered] == 0).all()
    scores = out["scores"][answered]
    assert ((scores > 0) & (scores <= 1)).all() and (np.diff(scores, axis=-1) <= 1e-7).all()
    assert not np.isin(out["token_ids"][answered], range(5)).any(), "a reserved token was offered"
    positions = out["mask_positions"][6]
    assert list(positions[:2]) == sorted(positions[:2])


def test_embed_and_masked_lm_signatures(pretrained: dict) -> None:
    family, hp, model = pretrained["family"], pretrained["hp"], pretrained["model"]
    signatures = family.signatures(model, hp, PAIR_DATA)
    out = numpy(signatures["embed"].fn({"text": tf.constant(["a short text", "long " * 100, "", b"\xff"])}))
    assert out["pooled"].shape == (4, 64) and out["sequence"].shape == (4, LENGTH, 64)
    assert list(out["truncated"]) == [False, True, False, False]
    assert list(out["padding_mask"].sum(axis=1)[[1, 2]]) == [LENGTH, 2]
    features = {k: tf.constant(v[:16]) for k, v in pretrained["x"].items()}
    scored = numpy(signatures["masked_lm"].fn(features))
    assert set(scored) == {"masked_correct", "masked_total", "next_sentence_probability"}
    assert (scored["masked_total"] >= scored["masked_correct"]).all() and scored["masked_total"].sum() > 16
    assert ((scored["next_sentence_probability"] >= 0) & (scored["next_sentence_probability"] <= 1)).all()
    again = numpy(signatures["masked_lm"].fn({k: v[::-1] for k, v in features.items()}))
    np.testing.assert_array_equal(again["masked_total"][::-1], scored["masked_total"])
    np.testing.assert_array_equal(again["masked_correct"][::-1], scored["masked_correct"])


def test_signatures_export_as_a_saved_model(pretrained: dict, tmp_path) -> None:
    """What the exporter does with explicit input signatures: the tokenizer must survive a SavedModel."""
    family, hp, model = pretrained["family"], pretrained["hp"], pretrained["model"]
    module = tf.Module()
    module.model = model
    module.model_variables = [v.value for v in model.variables]
    signatures = {}
    for name, sig in family.signatures(model, hp, PAIR_DATA).items():
        specs = sig.input_signature or {k: ([None, 1], "string") for k in (wordpiece.TEXT_A, wordpiece.TEXT_B)}
        names = list(specs)
        signatures[name] = tf.function(
            lambda *t, fn=sig.fn, names=names: fn(dict(zip(names, t))),
            input_signature=[tf.TensorSpec(specs[n][0], specs[n][1], name=n) for n in names],
            autograph=False).get_concrete_function()
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)
    loaded = tf.saved_model.load(str(tmp_path))
    out = loaded.signatures["fill_mask"](text=tf.constant(["the [MASK] of a function.", "", "\xff"]))
    assert list(out["mask_count"].numpy()) == [1, 0, 0]
    expected = numpy(family.signatures(model, hp, PAIR_DATA)["fill_mask"].fn(
        {"text": tf.constant(["the [MASK] of a function."])}))
    assert (out["tokens"].numpy()[0] == expected["tokens"][0]).all()
    scored = loaded.signatures["masked_lm"](text_a=tf.constant(pretrained["x"]["text_a"][:4]),
                                            text_b=tf.constant(pretrained["x"]["text_b"][:4]))
    assert scored["masked_total"].numpy().sum() > 0


# --- fine-tuning -----------------------------------------------------------------------------------------

SINGLE_DATA = DataSpec({wordpiece.TEXT: FeatureInfo((), "string")}, wordpiece.LABEL, 2)


def test_classifier_needs_a_base_model_when_pretrained(vocab_file: str) -> None:
    family = registry.get("bert_classifier")
    with pytest.raises(ValueError, match="needs the pretrained encoder"):
        family.build(family.hparams({}), SINGLE_DATA)
    with pytest.raises(ValueError, match="no pretrained encoder at"):
        family.build(family.hparams({"base_model": "/nonexistent/model.keras"}), SINGLE_DATA)
    with pytest.raises(ValueError, match="no feature 'text_a'"):
        family.build(family.hparams({"pretrained": False, "vocab_file": vocab_file, "text_keys": "text_a,text_b"}),
                     SINGLE_DATA)


def test_fine_tuning_starts_from_the_pretrained_weights(pretrained: dict, vocab_file: str) -> None:
    family = registry.get("bert_classifier")
    data = DataSpec(PAIR_DATA.features, wordpiece.LABEL, 2, extras={BASE_MODEL: pretrained["path"]})
    model = family.build(family.hparams({"text_keys": "text_a,text_b"}), data)
    backbone = model.get_layer("backbone")
    source = pretrained["model"].backbone
    assert len(backbone.weights) == len(source.weights)
    for mine, theirs in zip(backbone.weights, source.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(mine), keras.ops.convert_to_numpy(theirs))
    scratch = family.build(family.hparams({"pretrained": False, "vocab_file": vocab_file, **SHAPE,
                                           "text_keys": "text_a,text_b"}), data)
    assert scratch.get_layer("backbone").count_params() == backbone.count_params()
    assert not np.allclose(keras.ops.convert_to_numpy(scratch.get_layer("backbone").weights[0]),
                           keras.ops.convert_to_numpy(source.weights[0]))


def test_classifier_trains_serves_and_round_trips(pretrained: dict, sentences: list[str], tmp_path) -> None:
    family = registry.get("bert_classifier")
    data = DataSpec(SINGLE_DATA.features, wordpiece.LABEL, 2, extras={BASE_MODEL: pretrained["path"]})
    hp = family.hparams({"learning_rate": 1e-3, "batch_size": 16})
    model = family.build(hp, data)
    # label: does the sentence mention "function"? (a word-level rule the encoder can pick up quickly)
    texts = [s for s in sentences if "function" in s.lower()][:32] + [s for s in sentences if "function" not in
                                                                          s.lower()][:32]
    labels = np.array([1] * 32 + [0] * 32, dtype=np.int64)
    train = tf.data.Dataset.from_tensor_slices(({"text": np.array(texts, dtype=object)}, labels)).shuffle(
        64, seed=0).batch(16)
    before = model.evaluate(train, return_dict=True, verbose=0)["loss"]
    model.fit(train, epochs=6, verbose=0)
    after = model.evaluate(train, return_dict=True, verbose=0)["loss"]
    assert after < before - 0.1
    predict = family.signatures(model, hp, data)["predict"].fn
    out = numpy(predict({"text": tf.constant(["", "\xff", "word " * 200, "a function"])}))
    assert out["probabilities"].shape == (4, 2) and np.allclose(out["probabilities"].sum(axis=1), 1, atol=1e-5)
    path = str(tmp_path / "classifier.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded({"text": tf.constant(texts[:4])})),
        keras.ops.convert_to_numpy(model({"text": tf.constant(texts[:4])})), rtol=1e-5, atol=1e-6)
    assert os.path.getsize(path) > 0


def test_fine_tuning_dropout_reaches_the_pretrained_encoder(pretrained: dict) -> None:
    # the fixture's encoder was pretrained with dropout 0.0: the classifier's hparam must replace it
    family = registry.get("bert_classifier")
    data = DataSpec(SINGLE_DATA.features, wordpiece.LABEL, 2, extras={BASE_MODEL: pretrained["path"]})
    for rate in (0.3, 0.0):
        model = family.build(family.hparams({"dropout": rate}), data)
        backbone = model.get_layer("backbone")
        rates = {layer.rate for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dropout)}
        assert rates == {rate} and backbone.get_config()["dropout"] == rate
        x = {"text": tf.constant(["the cat sat on the mat"] * 2)}
        a, b = (keras.ops.convert_to_numpy(model(x, training=True)) for _ in range(2))
        assert np.allclose(a, b) == (rate == 0.0)


def pair_classifier_data(pretrained: dict, num_classes: int = 2) -> DataSpec:
    return DataSpec(PAIR_DATA.features, wordpiece.LABEL, num_classes, extras={BASE_MODEL: pretrained["path"]})


def test_nsp_head_init_scores_pairs_as_the_pretrained_nsp_head(pretrained: dict, sentences: list[str]) -> None:
    from models.bert import IS_NEXT

    family = registry.get("bert_classifier")
    x, _ = pair_data(sentences, 8, seed=5)
    model = pretrained["model"]
    packed = model.preprocessor([x[wordpiece.TEXT_A], x[wordpiece.TEXT_B]])
    pooled = model.backbone({k: packed[k] for k in ("token_ids", "segment_ids", "padding_mask")})["pooled_output"]
    is_next = keras.ops.convert_to_numpy(keras.ops.softmax(model.nsp_head(pooled), axis=-1))[:, IS_NEXT]
    for head_init, same in (("nsp", True), ("random", False)):
        classifier = family.build(family.hparams({"text_keys": "text_a,text_b", "head_init": head_init}),
                                  pair_classifier_data(pretrained))
        positive = keras.ops.convert_to_numpy(classifier(x, training=False))[:, 1]
        assert np.allclose(positive, is_next, atol=1e-5) == same
    assert family.hparams({}).head_init == "random"  # today's behaviour stays the default
    with pytest.raises(ValueError, match="head_init"):
        family.hparams({"head_init": "nsp"})  # one text: no sentence pair
    with pytest.raises(ValueError, match="head_init"):
        family.hparams({"head_init": "nsp", "pretrained": False, "text_keys": "text_a,text_b"})
    with pytest.raises(ValueError, match="two-class"):
        family.build(family.hparams({"text_keys": "text_a,text_b", "head_init": "nsp"}),
                     pair_classifier_data(pretrained, num_classes=3))


def test_probe_epochs_train_the_head_alone_then_everything(pretrained: dict, sentences: list[str]) -> None:
    family = registry.get("bert_classifier")
    hp = family.hparams({"text_keys": "text_a,text_b", "epochs": 2, "probe_epochs": 1, "steps_per_epoch": 3,
                         "batch_size": 8, "learning_rate": 1e-3, "probe_learning_rate": 1e-2})
    model = family.build(hp, pair_classifier_data(pretrained))
    x, y = pair_data(sentences, 24, seed=6)
    train = tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)

    def weights() -> tuple[list[np.ndarray], list[np.ndarray]]:
        return ([keras.ops.convert_to_numpy(w) for w in model.get_layer("backbone").weights],
                [keras.ops.convert_to_numpy(w) for w in model.get_layer("probabilities").weights])

    snapshots = [weights()]
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: snapshots.append(weights()))
    history = family.train(model, hp, train, None, callbacks=[record])
    assert len(history["loss"]) == 2 and len(snapshots) == 3
    (backbone0, head0), (backbone1, head1), (backbone2, _) = snapshots
    assert all(np.array_equal(a, b) for a, b in zip(backbone0, backbone1))  # probe: encoder frozen
    assert not all(np.array_equal(a, b) for a, b in zip(head0, head1))      # ... the head learns
    assert not all(np.array_equal(a, b) for a, b in zip(backbone1, backbone2))  # then everything
    assert model.get_layer("backbone").trainable
    assert family.hparams({}).probe_epochs == 0
    with pytest.raises(ValueError, match="probe_epochs"):
        family.hparams({"epochs": 2, "probe_epochs": 2})
