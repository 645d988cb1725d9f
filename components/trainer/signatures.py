"""Adds TF Serving ``classify``/``regress`` SignatureDefs to a TF2 SavedModel.

``tf.saved_model.save`` writes every signature with method name
``tensorflow/serving/predict``, but TF Serving's ``Classify`` and ``Regress``
only run signatures whose method name is ``tensorflow/serving/classify`` or
``.../regress``, with one serialized-``tf.Example`` input named ``inputs``.
:func:`add_classify_regress_signatures` edits ``saved_model.pb`` in place so
those APIs work on what the pipelines push: it copies the examples-input
signature (``serving_default``), sets the method name, renames the input to
``inputs``, maps the probabilities to ``scores`` and adds a few graph nodes
that tile the class labels to a ``[batch, num_classes]`` string ``classes``
tensor. Nothing is re-traced; the new signatures reuse the same graph.

Example (after ``tf.saved_model.save(module, export_dir, signatures=...)``)::

    add_classify_regress_signatures(export_dir, scores_output="probabilities")
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving.signatures import (
    CLASSIFY_INPUTS,
    CLASSIFY_METHOD_NAME,
    CLASSIFY_OUTPUT_CLASSES,
    CLASSIFY_OUTPUT_SCORES,
    DEFAULT_SIGNATURE,
    REGRESS_INPUTS,
    REGRESS_METHOD_NAME,
    REGRESS_OUTPUTS,
    read_saved_model,
)

_NODE_PREFIX = "zoo_serving_classify"


def _examples_input(signature: meta_graph_pb2.SignatureDef, name: str) -> meta_graph_pb2.TensorInfo:
    if len(signature.inputs) != 1:
        raise ValueError(f"signature '{name}' has inputs {sorted(signature.inputs)}; "
                         "classify/regress need exactly one serialized tf.Example input")
    (info,) = signature.inputs.values()
    if info.dtype != types_pb2.DT_STRING:
        raise ValueError(f"signature '{name}' input is {types_pb2.DataType.Name(info.dtype)}; "
                         "classify/regress need a DT_STRING (serialized tf.Example) input")
    return info


def _output(signature: meta_graph_pb2.SignatureDef, sig_name: str, key: str) -> meta_graph_pb2.TensorInfo:
    if key not in signature.outputs:
        raise ValueError(f"signature '{sig_name}' has no output '{key}'; outputs: {sorted(signature.outputs)}")
    return signature.outputs[key]


def _node_input(tensor_name: str) -> str:
    """GraphDef input reference of tensor ``op:i`` (``op`` for output 0)."""
    op, _, index = tensor_name.partition(":")
    return op if index in ("", "0") else f"{op}:{index}"


def _add_label_nodes(graph_def: tf.compat.v1.GraphDef, scores_tensor: str,
                     labels: Sequence[str], prefix: str) -> str:
    """Adds ``Tile(labels[1, K], [batch, 1])`` under ``prefix``; returns the classes tensor name."""
    kept = [n for n in graph_def.node if not n.name.startswith(prefix + "/")]  # re-run replaces
    if len(kept) != len(graph_def.node):
        del graph_def.node[:]
        graph_def.node.extend(kept)

    def node(name: str, op: str, inputs: Sequence[str] = (), **attrs: tf.compat.v1.AttrValue) -> None:
        n = graph_def.node.add(name=f"{prefix}/{name}", op=op, input=list(inputs))
        for key, value in attrs.items():
            n.attr[key].CopyFrom(value)

    def const(name: str, value: np.ndarray, dtype: int) -> None:
        node(name, "Const", dtype=tf.compat.v1.AttrValue(type=dtype),
             value=tf.compat.v1.AttrValue(tensor=tf.make_tensor_proto(value)))

    int32 = tf.compat.v1.AttrValue(type=types_pb2.DT_INT32)
    p = prefix
    const("labels", np.array([[s.encode() for s in labels]], dtype=object), types_pb2.DT_STRING)
    const("keep_batch", np.array([1, 0], np.int32), types_pb2.DT_INT32)
    const("one_column", np.array([0, 1], np.int32), types_pb2.DT_INT32)
    node("shape", "Shape", [_node_input(scores_tensor)],
         T=tf.compat.v1.AttrValue(type=types_pb2.DT_FLOAT), out_type=int32)
    node("batch_zero", "Mul", [f"{p}/shape", f"{p}/keep_batch"], T=int32)
    node("multiples", "AddV2", [f"{p}/batch_zero", f"{p}/one_column"], T=int32)
    node("classes", "Tile", [f"{p}/labels", f"{p}/multiples"],
         T=tf.compat.v1.AttrValue(type=types_pb2.DT_STRING), Tmultiples=int32)
    return f"{p}/classes:0"


def _add_op_defs(meta_graph: meta_graph_pb2.MetaGraphDef, ops: Sequence[str]) -> None:
    from tensorflow.python.framework import op_def_registry
    known = {op.name for op in meta_graph.meta_info_def.stripped_op_list.op}
    for name in ops:
        if name not in known:
            meta_graph.meta_info_def.stripped_op_list.op.add().CopyFrom(op_def_registry.get(name))


def classification_signature(meta_graph: meta_graph_pb2.MetaGraphDef, source: str,
                             scores_output: str, class_labels: Sequence[str] | None,
                             key: str = "classification") -> meta_graph_pb2.SignatureDef:
    """Builds a classify SignatureDef over ``source``'s graph (adds label nodes)."""
    src = meta_graph.signature_def[source]
    scores = _output(src, source, scores_output)
    if scores.dtype != types_pb2.DT_FLOAT or len(scores.tensor_shape.dim) != 2:
        raise ValueError(f"output '{scores_output}' of '{source}' must be float [batch, num_classes]")
    num_classes = scores.tensor_shape.dim[1].size
    if class_labels is None:
        if num_classes < 0:
            raise ValueError(f"output '{scores_output}' has an unknown class count; pass class_labels")
        class_labels = [str(i) for i in range(num_classes)]
    if num_classes >= 0 and len(class_labels) != num_classes:
        raise ValueError(f"{len(class_labels)} class_labels for {num_classes} classes")
    signature = meta_graph_pb2.SignatureDef(method_name=CLASSIFY_METHOD_NAME)
    signature.inputs[CLASSIFY_INPUTS].CopyFrom(_examples_input(src, source))
    signature.outputs[CLASSIFY_OUTPUT_SCORES].CopyFrom(scores)
    classes = signature.outputs[CLASSIFY_OUTPUT_CLASSES]
    classes.name = _add_label_nodes(meta_graph.graph_def, scores.name, class_labels,
                                    f"{_NODE_PREFIX}_{key}")
    classes.dtype = types_pb2.DT_STRING
    classes.tensor_shape.CopyFrom(scores.tensor_shape)
    _add_op_defs(meta_graph, ["Const", "Shape", "Mul", "AddV2", "Tile"])
    return signature


def regression_signature(meta_graph: meta_graph_pb2.MetaGraphDef, source: str,
                         output: str) -> meta_graph_pb2.SignatureDef:
    """Builds a regress SignatureDef from ``source``'s float ``[batch]``/``[batch, 1]`` output."""
    src = meta_graph.signature_def[source]
    value = _output(src, source, output)
    dims = [d.size for d in value.tensor_shape.dim]
    if value.dtype != types_pb2.DT_FLOAT or not (len(dims) == 1 or (len(dims) == 2 and dims[1] == 1)):
        raise ValueError(f"output '{output}' of '{source}' must be float [batch] or [batch, 1]; got {dims}")
    signature = meta_graph_pb2.SignatureDef(method_name=REGRESS_METHOD_NAME)
    signature.inputs[REGRESS_INPUTS].CopyFrom(_examples_input(src, source))
    signature.outputs[REGRESS_OUTPUTS].CopyFrom(value)
    return signature


def add_classify_regress_signatures(
        export_dir: str, *, source_signature: str = DEFAULT_SIGNATURE,
        scores_output: str | None = "probabilities", class_labels: Sequence[str] | None = None,
        classification_key: str = "classification", regression_source: str | None = None,
        regression_output: str | None = None, regression_key: str = "regression") -> list[str]:
    """Adds classify (and optionally regress) SignatureDefs to ``export_dir``; returns their keys.

    Args:
        export_dir: a SavedModel directory written by ``tf.saved_model.save``.
        source_signature: the examples-input signature whose graph is reused.
        scores_output: its float ``[batch, num_classes]`` output, or ``None`` to skip classify.
        class_labels: the label strings; defaults to the class ids as strings.
        classification_key: the key of the new classify signature.
        regression_source: signature holding the regression output (``None``: no regress).
        regression_output: its float ``[batch]`` or ``[batch, 1]`` output.
        regression_key: the key of the new regress signature.
    """
    saved_model = read_saved_model(export_dir)
    added = []
    for meta_graph in saved_model.meta_graphs:
        if source_signature not in meta_graph.signature_def:
            raise ValueError(f"unknown signature '{source_signature}'; "
                             f"choices: {sorted(meta_graph.signature_def)}")
        if scores_output is not None:
            meta_graph.signature_def[classification_key].CopyFrom(classification_signature(
                meta_graph, source_signature, scores_output, class_labels, classification_key))
            added.append(classification_key)
        if regression_source is not None:
            if regression_source not in meta_graph.signature_def or regression_output is None:
                raise ValueError(f"regression needs an existing regression_source and regression_output; "
                                 f"got {regression_source!r}/{regression_output!r}")
            meta_graph.signature_def[regression_key].CopyFrom(regression_signature(
                meta_graph, regression_source, regression_output))
            added.append(regression_key)
    _write_saved_model(export_dir, saved_model)
    return sorted(set(added))


def _write_saved_model(export_dir: str, saved_model: saved_model_pb2.SavedModel) -> None:
    path = os.path.join(export_dir, "saved_model.pb")
    staging = path + ".tmp"
    with open(staging, "wb") as f:
        f.write(saved_model.SerializeToString(deterministic=True))
    os.replace(staging, path)
    fingerprint = os.path.join(export_dir, "fingerprint.pb")
    if os.path.exists(fingerprint):  # keep the checksum in step with the edited graph
        from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting
        with open(fingerprint, "wb") as f:
            f.write(fingerprinting.CreateFingerprintDef(export_dir))
