"""Seq2seqEvaluator: Do() on tiny translate SavedModels, picked by their role: exact match
and BLEU of the served strings, the blessing (bounds, no regression), and the
report's figures (attention heatmaps, the translations table)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("tfx")
from tfx.types import channel_utils, standard_artifacts

from components.seq2seq_evaluator import executor
from components.seq2seq_evaluator.component import Seq2seqEvaluator
from components.seq2seq_evaluator.metrics import corpus_bleu
from models.base import TRANSLATE
from pipelines.config import Threshold
from tests.fixtures.evaluator_harness import eval_examples, run_evaluator, saved_model

PAIRS = [("3 May 2021", "3 May 2021"), ("abc", "abc"), ("x y", "x y"), ("7 June", "2020-06-07")]
ROLES = {"translate": TRANSLATE, "translate_beam": TRANSLATE}
STEPS = 12  # decode steps of the attention output
SOURCE_LENGTH = 16


class Copier(tf.Module):
    """``translate`` copies the source; attention looks at source character i at step i.
    ``translate_beam`` returns nothing useful: the evaluator must pick the first translate signature."""

    def __init__(self, broken: bool = False) -> None:
        super().__init__()
        self.broken = broken

    def _source(self, examples):
        return tf.io.parse_example(examples, {"source": tf.io.FixedLenFeature([], tf.string)})["source"]

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def translate(self, examples):
        source = self._source(examples)
        length = tf.strings.length(source, unit="UTF8_CHAR")
        batch = tf.shape(source)[0]
        attention = tf.tile(tf.eye(STEPS, SOURCE_LENGTH)[None], [batch, 1, 1])
        translation = tf.fill([batch], "") if self.broken else source
        return {"translation": translation, "attention": attention,
                "length": tf.cast(0 * length if self.broken else length, tf.int64),
                "token_ids": tf.zeros((batch, STEPS), tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def translate_beam(self, examples):
        source = self._source(examples)
        return {"translation": tf.fill([tf.shape(source)[0]], "?")}


def _example(source: str, target: str) -> bytes:
    feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))
               for k, v in (("source", source), ("target", target))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


@pytest.fixture(scope="module")
def examples(tmp_path_factory) -> standard_artifacts.Examples:
    return eval_examples(tmp_path_factory.mktemp("examples"), (_example(s, t) for s, t in PAIRS))


def _model(tmp_path, name: str, broken: bool = False) -> standard_artifacts.Model:
    return saved_model(tmp_path / name, Copier(broken), ["translate", "translate_beam"])


def _do(tmp_path, examples, model, thresholds, baseline=None, roles=ROLES, char_level=True):
    run = run_evaluator(executor.Executor, tmp_path, examples, model, thresholds, roles, baseline,
                        target_key="target", source_key="source", char_level=int(char_level))
    return run.report, run.figures, run.evaluation, run.blessing


def test_exact_match_bleu_and_blessing(tmp_path, examples):
    model = _model(tmp_path, "copier")
    report, _, evaluation, blessing = _do(tmp_path / "a", examples, model, {"exact_match": {"lower_bound": 0.7}})
    sources, targets = zip(*PAIRS)
    assert report["metrics"]["exact_match"] == 0.75
    assert report["metrics"]["bleu"] == pytest.approx(corpus_bleu([list(s) for s in sources],
                                                                  [list(t) for t in targets]))
    assert 0 < report["metrics"]["bleu"] < 1
    assert report["blessed"] and blessing.get_int_custom_property("blessed") == 1
    assert evaluation.get_float_custom_property("metric:exact_match") == 0.75

    report, _, _, blessing = _do(tmp_path / "b", examples, model, {"exact_match": {"lower_bound": 0.9}})
    assert not report["blessed"] and blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_string_custom_property("not_blessed_reasons") == \
        "exact_match 0.7500 below the lower bound 0.9"
    # Word-level BLEU differs from character-level BLEU on the same strings.
    report, _, _, _ = _do(tmp_path / "c", examples, model, {}, char_level=False)
    assert report["metrics"]["bleu"] == pytest.approx(corpus_bleu([s.split() for s in sources],
                                                                  [t.split() for t in targets]))


def test_no_regression_against_the_blessed_baseline(tmp_path, examples):
    good, broken = _model(tmp_path, "good"), _model(tmp_path, "broken", broken=True)
    thresholds = {"no_regression": ["exact_match"]}
    report, _, _, blessing = _do(tmp_path / "a", examples, broken, thresholds, baseline=good)
    assert report["metrics"]["exact_match"] == 0.0 and report["baseline_metrics"]["exact_match"] == 0.75
    assert not report["blessed"] and blessing.get_string_custom_property("baseline_model") == good.uri
    report, _, _, _ = _do(tmp_path / "b", examples, good, thresholds, baseline=broken)
    assert report["blessed"]


def test_attention_heatmaps_and_translations_table(tmp_path, examples):
    _, figures, _, _ = _do(tmp_path, examples, _model(tmp_path, "copier"), {})
    assert list(figures) == [f"attention_{i}" for i in range(len(PAIRS))] + ["translations"]
    for i, (source, _) in enumerate(PAIRS):
        heatmap = figures[f"attention_{i}"]
        assert heatmap.kind == "heatmap"
        assert heatmap.labels["columns"] == list(source) and heatmap.labels["rows"] == list(source)
        np.testing.assert_array_equal(heatmap.arrays["weights"], np.eye(len(source)))  # step i on character i
    table = figures["translations"]
    assert table.kind == "table" and table.labels["header"] == ["source", "target", "prediction", "exact match"]
    assert table.labels["rows"] == [[s, t, s, "yes" if s == t else "no"] for s, t in PAIRS]


def test_the_translate_role_is_required(tmp_path, examples):
    model = _model(tmp_path, "copier")
    with pytest.raises(ValueError, match="no 'translate' signature"):
        _do(tmp_path / "a", examples, model, {}, roles={"translate": "classify"})
    # The first signature of the role is judged: declared first, the useless beam one is.
    report, _, _, _ = _do(tmp_path / "b", examples, model, {}, roles={"translate_beam": TRANSLATE,
                                                                     "translate": TRANSLATE})
    assert report["metrics"]["exact_match"] == 0.0


def test_component_checks_thresholds_when_built():
    model = channel_utils.as_channel([standard_artifacts.Model()])
    data = channel_utils.as_channel([standard_artifacts.Examples()])
    component = Seq2seqEvaluator(model=model, examples=data, target_key="target", signature_roles=ROLES,
                                 thresholds=[Threshold("exact_match", lower_bound=0.97)], char_level=True)
    props = component.exec_properties
    assert json.loads(props["thresholds"])["exact_match"] == {"lower_bound": 0.97}
    assert props["char_level"] == 1 and json.loads(props["signature_roles"]) == ROLES
    with pytest.raises(ValueError, match="unknown metric 'fid'"):  # a generative metric is not a seq2seq one
        Seq2seqEvaluator(model=model, examples=data, target_key="target", signature_roles=ROLES,
                         thresholds={"fid": {"upper_bound": 1.0}})
    with pytest.raises(ValueError, match="higher is better"):
        Seq2seqEvaluator(model=model, examples=data, target_key="target", signature_roles=ROLES,
                         thresholds=[Threshold("bleu", lower_bound=0.5, higher_is_better=False)])


def test_its_own_baseline_is_settled_without_evaluating_twice(tmp_path, examples, monkeypatch):
    """A re-run whose Trainer was cached resolves the candidate as its own baseline."""
    model = _model(tmp_path, "same")
    model.id = 5
    calls = []
    real = executor.Executor.evaluate
    monkeypatch.setattr(executor.Executor, "evaluate", lambda self, *a: calls.append(a[0]) or real(self, *a))
    report, _, _, blessing = _do(tmp_path / "a", examples, model, {"no_regression": ["exact_match"]}, baseline=model)
    assert len(calls) == 1
    assert report["baseline_metrics"] == report["metrics"] and report["blessed"]
    other = _model(tmp_path, "other")
    other.id = 6
    calls.clear()
    _do(tmp_path / "b", examples, model, {"no_regression": ["exact_match"]}, baseline=other)
    assert len(calls) == 2
