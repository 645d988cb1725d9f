"""The BERT-style pipelines end to end on a tiny budget: ``reviews_bert`` runs its
pretraining stage (``bert_pretraining``: the WordPiece vocabulary learned in the
Transform, masked LM + next sentence, judged by the MaskedLMEvaluator) and then
fine-tunes from the blessed encoder.

Both pushed models answer raw strings through every signature in process,
over REST and over gRPC, malformed strings included; editing the fine-tuning
hyperparameters re-runs fine-tuning only, never pretraining.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipelines import nodes
from tests.fixtures.served import served_clients
from tests.pipelines.test_family_pipelines import MALFORMED, _run

pytestmark = pytest.mark.pipeline

TINY = {"epochs": 1, "steps_per_epoch": 4, "batch_size": 8}
MULTI_MASK = b"the [MASK] returns a [MASK] of [MASK] values"
NO_MASK = b"a text without any mask token"


def _tiny(config, **final_hparams):
    from pipelines.config import Threshold

    lenient_stage = config.pretraining.with_overrides(
        hparams=TINY, thresholds=(Threshold("masked_token_accuracy", lower_bound=0.0, no_regression=False),))
    return config.with_overrides(
        pretraining=lenient_stage, hparams={**TINY, **final_hparams},
        thresholds=(Threshold("sparse_categorical_accuracy", lower_bound=0.0, no_regression=False),))


def _latest_version(serving: str, name: str) -> str:
    from serving.versions import list_versions

    versions = list_versions(os.path.join(serving, name))
    assert versions, f"nothing pushed to {name}"
    return os.path.join(serving, name, str(versions[-1]))


def _check_encoder(version_dir: str) -> None:
    import tensorflow as tf

    loaded = tf.saved_model.load(version_dir)
    assert {"fill_mask", "embed", "masked_lm"} <= set(loaded.signatures)
    rows = [b"the function [MASK] a value", MULTI_MASK, NO_MASK, *MALFORMED]
    fill = {k: v.numpy() for k, v in loaded.signatures["fill_mask"](text=tf.constant(rows)).items()}
    assert fill["tokens"].shape[0] == len(rows)
    counts = dict(zip(rows, fill["mask_count"].reshape(-1).tolist()))
    assert counts[rows[0]] == 1 and counts[MULTI_MASK] == 3 and counts[NO_MASK] == 0
    assert all(t for t in fill["tokens"][0, 0])  # top-k answers for the one [MASK]
    assert bool(fill["truncated"][rows.index(MALFORMED[2])])  # 5000 words do not fit: said, not failed
    embed = {k: v.numpy() for k, v in loaded.signatures["embed"](text=tf.constant(rows)).items()}
    assert embed["pooled"].shape[0] == len(rows) and np.all(np.isfinite(embed["pooled"]))

    with served_clients("m", os.path.dirname(version_dir)) as served:
        answer = served.rest.predict("m", instances=[{"text": "the function [MASK] a value"}],
                                     signature_name="fill_mask")["predictions"][0]
        assert answer["tokens"][0] == [t.decode() for t in fill["tokens"][0, 0]]
        pooled = served.rest.predict("m", instances=[{"text": "a module"}], signature_name="embed")["predictions"]
        assert len(pooled[0]["pooled"]) == embed["pooled"].shape[1]
        via_grpc = served.grpc.predict("m", {"text": np.array(rows, dtype=object)}, signature_name="fill_mask")
        np.testing.assert_array_equal(np.asarray(via_grpc["mask_count"]).reshape(-1),
                                      fill["mask_count"].reshape(-1))


def _check_classifier(version_dir: str) -> None:
    import tensorflow as tf

    loaded = tf.saved_model.load(version_dir)
    rows = [b"the film was not bad at all", *MALFORMED]
    local = loaded.signatures["predict_raw"](text=tf.constant(rows))["probabilities"].numpy()
    assert local.shape == (len(rows), 2) and np.allclose(local.sum(axis=1), 1.0, atol=1e-4)
    with served_clients("m", os.path.dirname(version_dir)) as served:
        answer = served.rest.predict("m", instances=[{"text": "the film was not bad at all"}],
                                     signature_name="predict_raw")["predictions"][0]
        np.testing.assert_allclose(answer["probabilities"], local[0], atol=1e-5)
        via_grpc = served.grpc.predict("m", {"text": np.array(rows, dtype=object)}, signature_name="predict_raw")
        np.testing.assert_allclose(np.asarray(via_grpc["probabilities"]).reshape(local.shape), local, atol=1e-5)


def test_pretraining_then_fine_tuning_serves_raw_strings_and_reruns_fine_tuning_only(tmp_path):
    from pipelines import bert

    output = str(tmp_path)
    run = _run(_tiny(bert.REVIEWS), output)
    assert run.status == "succeeded", [(s.node, s.state) for s in run.steps]
    assert run.blessed is True and run.push.get("pushed") == 1, (run.not_blessed_reasons, run.push)
    judged = run.output(nodes.staged(nodes.EVALUATOR, nodes.PRETRAINING), "evaluation")
    for metric in ("masked_token_accuracy", "next_sentence_accuracy"):
        assert 0.0 <= judged.custom_properties[f"metric:{metric}"].double_value <= 1.0

    # The learned vocabulary is a Transform asset of the pretraining stage, and travels in the encoder.
    graph = run.output(nodes.staged(nodes.TRANSFORM, nodes.PRETRAINING), "transform_graph")
    with open(os.path.join(graph.uri, "transform_fn", "assets", "wordpiece")) as f:
        vocabulary = f.read().split("\n")
    assert vocabulary[:5] == ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"] and len(vocabulary) > 100

    serving = os.path.join(output, "serving")
    _check_encoder(_latest_version(serving, "bert_encoder"))
    _check_classifier(_latest_version(serving, "reviews_bert"))

    # An edit of the fine-tuning stage re-runs fine-tuning only, from the same pretrained encoder.
    again = _run(_tiny(bert.REVIEWS, learning_rate=1e-4), output)
    states = {s.node: s.state for s in again.steps}
    for node in (nodes.TRANSFORM, nodes.TRAINER, nodes.SERVING_VALIDATOR):
        assert states[nodes.staged(node, nodes.PRETRAINING)] == "cached", states
    assert states[nodes.TRAINER] == "ran", states
