"""A served SavedModel, called on numpy: what the project's own evaluators judge.

The evaluators never guess what a model is from its signature names: the
pipeline passes the family's ``signature_roles`` (signature name -> role, see
``models.base``) and :meth:`ServedModel.named` finds the signatures of a role.
A feature-taking signature is exported on serialized ``tf.Example``s (input
``examples``; the Transform graph inside), so evaluators feed it the eval
split's records exactly as TF Serving would receive them. TensorFlow only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

BATCH = 256


class ServedModel:
    """The SavedModel at ``path`` and the roles of its signatures."""

    def __init__(self, path: str, roles: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.loaded = tf.saved_model.load(path)
        self.signatures = self.loaded.signatures
        self.roles = dict(roles or {})

    def named(self, role: str) -> list[str]:
        """The signatures declared in ``role``, in declaration order; a declared
        signature the SavedModel lacks is an error."""
        names = [name for name, r in self.roles.items() if r == role]
        absent = [name for name in names if name not in self.signatures]
        if absent:
            raise ValueError(f"the family declares signature(s) {absent} ({role}) but the SavedModel at "
                             f"{self.path} has only {sorted(self.signatures)}")
        return names

    def first(self, role: str) -> str | None:
        """The first signature declared in ``role``, or ``None``."""
        names = self.named(role)
        return names[0] if names else None

    def inputs(self, name: str) -> dict[str, tf.TensorSpec]:
        return dict(self.signatures[name].structured_input_signature[1])

    def outputs(self, name: str) -> set[str]:
        return set(self.signatures[name].structured_outputs)

    def takes_examples(self, name: str) -> bool:
        """Whether ``name`` takes one string input: serialized tf.Examples."""
        specs = self.inputs(name)
        return len(specs) == 1 and next(iter(specs.values())).dtype == tf.string

    def call(self, name: str, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Signature ``name`` on ``inputs`` (arrays with the batch first), in batches."""
        fn, specs = self.signatures[name], self.inputs(name)
        missing = sorted(set(specs) - set(inputs))
        if missing:
            raise ValueError(f"signature {name!r} needs inputs {missing}; have {sorted(inputs)}")
        size = len(next(iter(inputs.values())))
        chunks: dict[str, list[np.ndarray]] = {}
        for start in range(0, size, BATCH):
            batch = {k: tf.constant(np.asarray(inputs[k][start:start + BATCH]), dtype=specs[k].dtype)
                     for k in specs}
            for key, value in fn(**batch).items():
                chunks.setdefault(key, []).append(value.numpy())
        return {key: np.concatenate(values) for key, values in chunks.items()}

    def call_on_examples(self, name: str, serialized: Sequence[bytes]) -> dict[str, np.ndarray]:
        """Signature ``name``, which takes serialized tf.Examples, on ``serialized``."""
        if not self.takes_examples(name):
            raise ValueError(f"signature {name!r} of {self.path} does not take serialized tf.Examples; "
                             f"its inputs: {sorted(self.inputs(name))}")
        return self.call(name, {next(iter(self.inputs(name))): np.array(list(serialized), dtype=object)})
