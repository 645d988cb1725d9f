"""MaskedLMEvaluator: Do() on tiny SavedModels with a ``masked_lm`` and a ``fill_mask``
signature: pooled masked-token accuracy, next-sentence accuracy against the raw
labels, the blessing (bounds, no regression) and the fill_mask table."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("tfx")
from tfx.types import channel_utils, standard_artifacts

from components.masked_lm_evaluator import executor
from components.masked_lm_evaluator.component import MaskedLMEvaluator
from models.base import FILL_MASK, MASKED_LM
from pipelines.config import Threshold
from tests.fixtures.evaluator_harness import eval_examples, run_evaluator, saved_model

# (text_a, text_b, next_sentence)
PAIRS = [("The parser reads tokens.", "Then it builds a tree.", 1),
         ("Lists are mutable.", "Sunspots follow a cycle.", 0),
         ("A module holds definitions.", "Import loads it once.", 1),
         ("Exceptions unwind frames.", "Bananas are yellow.", 0)]
ROLES = {"fill_mask": FILL_MASK, "masked_lm": MASKED_LM}


class Toy(tf.Module):
    """``masked_lm``: per pair, ``len(text_a)`` selected tokens of which ``len(text_b)`` // 10 are hit;
    IsNext probability 0.9 when ``text_b`` starts with a capital T or I (the two IsNext pairs), else 0.1
    (``inverted``: the other way round). ``fill_mask`` answers the masked word's first letter and 'word'."""

    def __init__(self, inverted: bool = False) -> None:
        super().__init__()
        self.inverted = inverted

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def masked_lm(self, examples):
        spec = {k: tf.io.FixedLenFeature([], tf.string) for k in ("text_a", "text_b")}
        parsed = tf.io.parse_example(examples, spec)
        is_next = tf.strings.regex_full_match(parsed["text_b"], "[TI].*")
        if self.inverted:
            is_next = tf.logical_not(is_next)
        return {"masked_total": tf.strings.length(parsed["text_a"]),
                "masked_correct": tf.strings.length(parsed["text_b"]) // 10,
                "next_sentence_probability": tf.where(is_next, 0.9, 0.1)}

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="text")])
    def fill_mask(self, text):
        batch = tf.shape(text)[0]
        return {"tokens": tf.stack([tf.fill([batch], "word"), tf.fill([batch], "parser")], axis=1),
                "scores": tf.fill([batch, 2], 0.5)}


def _example(a: str, b: str, label: int) -> bytes:
    feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()])) for k, v in
               (("text_a", a), ("text_b", b))}
    feature["next_sentence"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> standard_artifacts.Examples:
    return eval_examples(tmp_path_factory.mktemp("examples"), (_example(*pair) for pair in PAIRS))


def _model(tmp_path, name: str, inverted: bool = False) -> standard_artifacts.Model:
    return saved_model(tmp_path / name, Toy(inverted), ["masked_lm", "fill_mask"])


def _do(tmp_path, examples, model, thresholds, baseline=None, roles=ROLES):
    run = run_evaluator(executor.Executor, tmp_path, examples, model, thresholds, roles, baseline,
                        label_key="next_sentence", text_key="text_a")
    return run.report, run.figures, run.blessing


def test_pooled_masked_token_accuracy_and_next_sentence_accuracy(tmp_path, examples):
    report, _, blessing = _do(tmp_path / "a", examples, _model(tmp_path, "toy"),
                              {"masked_token_accuracy": {"lower_bound": 0.05}})
    correct = sum(len(b) // 10 for _, b, _ in PAIRS)
    total = sum(len(a) for a, _, _ in PAIRS)
    assert report["metrics"]["masked_token_accuracy"] == pytest.approx(correct / total)
    assert report["metrics"]["next_sentence_accuracy"] == 1.0
    assert report["blessed"] and blessing.get_int_custom_property("blessed") == 1
    report, _, _ = _do(tmp_path / "b", examples, _model(tmp_path, "inverted", inverted=True), {})
    assert report["metrics"]["next_sentence_accuracy"] == 0.0


def test_no_regression_against_the_blessed_encoder(tmp_path, examples):
    good, bad = _model(tmp_path, "good"), _model(tmp_path, "bad", inverted=True)
    thresholds = {"no_regression": ["next_sentence_accuracy"]}
    report, _, blessing = _do(tmp_path / "a", examples, bad, thresholds, baseline=good)
    assert not report["blessed"] and report["baseline_metrics"]["next_sentence_accuracy"] == 1.0
    assert "next_sentence_accuracy" in blessing.get_string_custom_property("not_blessed_reasons")
    report, _, _ = _do(tmp_path / "b", examples, good, thresholds, baseline=bad)
    assert report["blessed"]


def test_fill_mask_table_masks_the_longest_word(tmp_path, examples):
    _, figures, _ = _do(tmp_path, examples, _model(tmp_path, "toy"), {})
    table = figures["fill_mask"]
    assert table.labels["header"] == ["text", "masked word", "top tokens", "word in top"]
    first = table.labels["rows"][0]
    assert first == ["The [MASK] reads tokens.", "parser", "word, parser", "yes"]
    assert [row[3] for row in table.labels["rows"]] == ["yes", "no", "no", "no"]


def test_a_model_without_the_masked_lm_role_is_refused(tmp_path, examples):
    with pytest.raises(ValueError, match="no 'masked_lm' signature"):
        _do(tmp_path, examples, _model(tmp_path, "toy"), {}, roles={"fill_mask": FILL_MASK})


def test_pure_functions():
    assert executor.masked_token_accuracy(np.array([0, 0]), np.array([3, 1])) == 0.0
    with pytest.raises(ValueError, match="selected no token"):
        executor.masked_token_accuracy(np.array([0]), np.array([0]))
    assert executor.mask_a_word("a b c") is None


def test_component_checks_thresholds_when_built():
    model = channel_utils.as_channel([standard_artifacts.Model()])
    data = channel_utils.as_channel([standard_artifacts.Examples()])
    component = MaskedLMEvaluator(model=model, examples=data, signature_roles=ROLES,
                                  thresholds=[Threshold("masked_token_accuracy", lower_bound=0.2)])
    assert json.loads(component.exec_properties["thresholds"])["masked_token_accuracy"] == {"lower_bound": 0.2}
    with pytest.raises(ValueError, match="unknown metric 'exact_match'"):
        MaskedLMEvaluator(model=model, examples=data, signature_roles=ROLES,
                          thresholds={"exact_match": {"lower_bound": 0.5}})
