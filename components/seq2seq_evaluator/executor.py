"""Executor of the Seq2seqEvaluator: decodes the eval split through the served
``translate`` signature (the first the family declares in that role) and
compares the decoded strings with the raw targets: ``exact_match`` and corpus
``bleu`` (on characters with ``char_level``).

For the report it draws the attention of a few eval translations (one heatmap
each: output tokens by source tokens) and a table of source, target and
prediction. Thresholds, blessing and the verdict are
:mod:`components.evaluator.blessing`'s, the flow :mod:`components.evaluator.base`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from components.evaluator.base import EvaluatorExecutor, exec_property
from components.evaluator.blessing import HIGHER
from components.evaluator.served import ServedModel
from components.figures import Figure
from components.seq2seq_evaluator.metrics import corpus_bleu, exact_match
from models.base import TRANSLATE

METRICS = {"exact_match": HIGHER, "bleu": HIGHER}
ATTENTION_EXAMPLES = 4  # heatmaps drawn
TABLE_EXAMPLES = 20     # rows of the translations table


def tokens(text: str, char_level: bool) -> list[str]:
    return list(text) if char_level else text.split()


def text_feature(serialized: bytes, key: str) -> str:
    """The first value of the bytes feature ``key`` of a serialized tf.Example, decoded ('' if absent)."""
    values = tf.train.Example.FromString(serialized).features.feature[key].bytes_list.value
    return values[0].decode("utf-8", "replace") if values else ""


def _strings(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in np.asarray(values).reshape(-1)]


class Executor(EvaluatorExecutor):
    METRICS = METRICS

    def parameters(self, exec_properties: Mapping[str, Any]) -> dict[str, Any]:
        return {"target_key": exec_properties["target_key"],
                "source_key": exec_property(exec_properties, "source_key", "source"),
                "char_level": bool(exec_property(exec_properties, "char_level", False))}

    @staticmethod
    def translate(model: ServedModel, examples: Sequence[bytes]) -> dict[str, np.ndarray]:
        name = model.first(TRANSLATE)
        if name is None:
            raise ValueError(f"the model's signature roles {model.roles} include no '{TRANSLATE}' signature")
        return model.call_on_examples(name, examples)

    def evaluate(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> dict[str, float]:
        predictions = _strings(self.translate(model, examples)["translation"])
        targets = [text_feature(r, params["target_key"]) for r in examples]
        char_level = params["char_level"]
        return {"exact_match": exact_match(predictions, targets),
                "bleu": corpus_bleu([tokens(p, char_level) for p in predictions],
                                    [tokens(t, char_level) for t in targets])}

    def figures(self, model: ServedModel, examples: Sequence[bytes], params: Mapping[str, Any]) -> list[Figure]:
        examples = examples[:max(ATTENTION_EXAMPLES, TABLE_EXAMPLES)]
        out = self.translate(model, examples)
        predictions = _strings(out["translation"])
        sources = [text_feature(r, params["source_key"]) for r in examples]
        targets = [text_feature(r, params["target_key"]) for r in examples]
        figures = []
        if "attention" in out:
            for i in range(min(ATTENTION_EXAMPLES, len(examples))):
                figures.append(self._attention(i, sources[i], predictions[i], out, params["char_level"]))
        rows = [[s, t, p, "yes" if p.strip() == t.strip() else "no"]
                for s, t, p in zip(sources, targets, predictions)][:TABLE_EXAMPLES]
        figures.append(Figure("translations", "table", "Translations of eval examples",
                              f"The first {len(rows)} eval examples through the {model.first(TRANSLATE)} signature.",
                              labels={"header": ["source", "target", "prediction", "exact match"], "rows": rows}))
        return figures

    @staticmethod
    def _attention(i: int, source: str, prediction: str, out: Mapping[str, np.ndarray], char_level: bool) -> Figure:
        """Heatmap of example ``i``: one row per output token, one column per source token."""
        attention = out["attention"][i]  # (decode steps, source length)
        source_tokens = tokens(source, char_level)[:attention.shape[1]] or [""]
        output_tokens = tokens(prediction, char_level)
        steps = int(out["length"][i]) if "length" in out else len(output_tokens)
        steps = min(steps, attention.shape[0])
        if len(output_tokens) != steps and "token_ids" in out:  # tokens do not split back: show their ids
            output_tokens = [str(t) for t in out["token_ids"][i][:steps]]
        output_tokens = output_tokens[:steps] or [""]
        weights = attention[:len(output_tokens), :len(source_tokens)].astype(np.float32)
        return Figure(f"attention_{i}", "heatmap", f"{source!r} -> {prediction!r}",
                      "Attention weights of the served decoder: one row per output token, one column per "
                      "source token.", {"weights": weights},
                      {"rows": output_tokens, "columns": source_tokens})
