"""Restricted Boltzmann machine with Bernoulli visible and hidden units.

The energy of a joint state is ``E(v, h) = -v.b - h.c - v W h``; summing out
the hidden units gives the free energy

    F(v) = -v.b - sum_j softplus(c_j + (v W)_j)

and ``p(v) ~ exp(-F(v))``. The log-likelihood gradient is
``-dF(v_data)/dtheta + E_model[dF(v)/dtheta]``; contrastive divergence (CD-k)
estimates the model expectation with the sample ``v_k`` after ``k`` steps of
block Gibbs sampling started at the data. So the CD-k update is exactly the
gradient of ``mean F(v_data) - mean F(stop_gradient(v_k))``: any Keras
optimizer, on any backend, can minimise it (:meth:`RBM.contrastive_divergence`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import keras
from keras import ops


def flatten(x: Any) -> Any:
    """``(batch, ...)`` -> ``(batch, features)`` float32, keeping the static size."""
    return ops.reshape(ops.cast(x, "float32"), (-1, math.prod(x.shape[1:])))


def _bernoulli(probabilities: Any, seed: keras.random.SeedGenerator) -> Any:
    """Samples 0/1 units with the given probabilities."""
    noise = keras.random.uniform(ops.shape(probabilities), seed=seed, dtype=probabilities.dtype)
    return ops.cast(noise < probabilities, probabilities.dtype)


@keras.saving.register_keras_serializable(package="zoo")
class RBM(keras.layers.Layer):
    """A Bernoulli-Bernoulli RBM. Called on visible units it returns the hidden
    probabilities ``p(h=1 | v) = sigmoid(v W + c)`` (its features), so a stack of
    RBMs is also the deterministic up-pass of a deep belief network.

    Args:
        units: number of hidden units.
        seed: seed of the Gibbs sampler.

    Example:

    >>> rbm = RBM(units=3, seed=0)
    >>> v = keras.ops.ones((4, 6)) * 0.5
    >>> tuple(rbm(v).shape), tuple(rbm.gibbs(v, k=2).shape), tuple(rbm.free_energy(v).shape)
    ((4, 3), (4, 6), (4,))
    """

    def __init__(self, units: int, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if units < 1:
            raise ValueError(f"an RBM needs at least one hidden unit; got units={units}")
        self.units, self.seed = units, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        visible = input_shape[-1]
        self.kernel = self.add_weight(shape=(visible, self.units), name="kernel",
                                      initializer=keras.initializers.RandomNormal(stddev=0.01, seed=self.seed))
        self.visible_bias = self.add_weight(shape=(visible,), name="visible_bias", initializer="zeros")
        self.hidden_bias = self.add_weight(shape=(self.units,), name="hidden_bias", initializer="zeros")

    def call(self, visible: Any) -> Any:
        return self.hidden_probabilities(visible)

    def _hidden_logits(self, visible: Any) -> Any:
        """``v W + c``: the hidden units' pre-sigmoid input."""
        return ops.matmul(visible, self.kernel) + self.hidden_bias

    def hidden_probabilities(self, visible: Any) -> Any:
        return ops.sigmoid(self._hidden_logits(visible))

    def visible_probabilities(self, hidden: Any) -> Any:
        return ops.sigmoid(ops.matmul(hidden, ops.transpose(self.kernel)) + self.visible_bias)

    def free_energy(self, visible: Any) -> Any:
        """``F(v)`` per example (shape ``(batch,)``)."""
        return (-ops.matmul(visible, self.visible_bias)
                - ops.sum(ops.softplus(self._hidden_logits(visible)), axis=-1))

    def gibbs(self, visible: Any, k: int = 1) -> Any:
        """Runs ``k`` steps ``v -> h ~ p(h|v) -> v ~ p(v|h)``; returns the last
        visible *probabilities* (the usual lower-variance negative sample)."""
        if k < 1:
            raise ValueError(f"CD-k needs k >= 1 Gibbs steps; got k={k}")
        v = visible
        for step in range(k):
            h = _bernoulli(self.hidden_probabilities(v), self.seed_generator)
            probabilities = self.visible_probabilities(h)
            v = probabilities if step == k - 1 else _bernoulli(probabilities, self.seed_generator)
        return v

    def contrastive_divergence(self, visible: Any, k: int = 1) -> Any:
        """The CD-k surrogate loss: its gradient is the CD-k parameter update."""
        negative = ops.stop_gradient(self.gibbs(visible, k))
        return ops.mean(self.free_energy(visible)) - ops.mean(self.free_energy(negative))

    def reconstruction_error(self, visible: Any) -> Any:
        """Mean squared error of a deterministic up-down pass (a training monitor)."""
        reconstruction = self.visible_probabilities(self.hidden_probabilities(visible))
        return ops.mean(ops.square(visible - reconstruction))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "seed": self.seed}


class ContrastiveDivergence(keras.Model):
    """Trains one :class:`RBM` by CD-k with ``fit``, on top of an optional fixed
    ``encoder``: a function from the flat input to the RBM's visible units (the
    already trained lower layers of a DBN), held constant here.

    ``fit`` takes batches of visible vectors (or ``(x, y)`` pairs whose ``y`` is
    ignored); ``x`` may also be a dict, whose ``input_key`` entry is flattened.
    The default ``train_step`` differentiates the CD-k surrogate, so this
    trainer is backend-neutral.

    Example:

    >>> rbm = RBM(units=4, seed=0)
    >>> trainer = ContrastiveDivergence(rbm, k=1)
    >>> trainer.compile(optimizer=keras.optimizers.SGD(0.1))
    >>> history = trainer.fit(keras.ops.ones((8, 6)), epochs=1, verbose=0)
    >>> sorted(history.history)
    ['loss', 'reconstruction_error']
    """

    def __init__(self, rbm: RBM, k: int = 1, encoder: Callable[[Any], Any] | None = None,
                 input_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rbm, self.k, self.input_key = rbm, k, input_key
        self._encode = encoder or (lambda v: v)  # a plain function: Keras does not track it
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_error")

    def visible(self, x: Any) -> Any:
        """The RBM's visible units for a batch ``x``."""
        if isinstance(x, dict):
            x = x[self.input_key]
        return ops.stop_gradient(self._encode(flatten(x)))

    def call(self, x: Any) -> dict[str, Any]:
        """The RBM's visible units and its hidden probabilities (calling the RBM
        builds it); ``compute_loss`` reuses ``visible`` rather than re-encoding."""
        visible = self.visible(x)
        return {"visible": visible, "hidden": self.rbm(visible)}

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None,
                     training: bool = True) -> Any:
        visible = y_pred["visible"]
        self.reconstruction_tracker.update_state(self.rbm.reconstruction_error(visible))
        return self.rbm.contrastive_divergence(visible, self.k)
