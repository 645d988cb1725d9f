"""Helpers shared by families and layers that are not layers themselves.

>>> check_choice("cell", "gru", ("gru", "lstm"))
>>> dtype_policy("mixed_bfloat16").compute_dtype
'bfloat16'
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")

# Under JAX, every variable of the state a MultiOptimizerModel step runs on (None outside a step).
_STEP_VARIABLES: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("step_variables", default=None)


def check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raises ``ValueError`` naming ``value`` and the ``choices`` when it is not one of them.

    >>> check_choice("pool", "median", ("max", "avg", None))
    Traceback (most recent call last):
    ...
    ValueError: pool must be one of ['max', 'avg', None], got 'median'
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def dtype_policy(precision: str) -> keras.DTypePolicy:
    """The Keras dtype policy for a ``precision`` hparam (no global state is changed)."""
    check_choice("precision", precision, PRECISIONS)
    return keras.DTypePolicy(precision)


def make_optimizer(hparams: Any, learning_rate: float | None = None, **adam: Any) -> keras.optimizers.Optimizer:
    """Adam at ``hparams.learning_rate`` (or ``learning_rate``), with ``hparams.clipnorm``
    gradient-norm clipping and loss scaling under ``hparams.precision == "mixed_float16"``;
    ``adam`` are further Adam arguments (``beta_1``, ...).

    >>> from models.hparams import HParams
    >>> optimizer = make_optimizer(HParams(learning_rate=0.01, clipnorm=1.0, precision="mixed_float16"))
    >>> type(optimizer).__name__, optimizer.inner_optimizer.clipnorm
    ('LossScaleOptimizer', 1.0)
    """
    rate = hparams.learning_rate if learning_rate is None else learning_rate
    optimizer = keras.optimizers.Adam(rate, clipnorm=hparams.clipnorm, **adam)
    if hparams.precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def image_input(inputs: Any, key: str, shape: Sequence[int]) -> Any:
    """The float32 image batch of ``shape`` from a feature dict (or a bare tensor).

    >>> tuple(image_input({"image": keras.ops.zeros((2, 64))}, "image", (8, 8, 1)).shape)
    (2, 8, 8, 1)
    """
    images = inputs[key] if isinstance(inputs, dict) else inputs
    return keras.ops.reshape(keras.ops.cast(images, "float32"), (-1, *shape))


class MultiOptimizerModel(keras.Model):
    """A model whose training step steps several optimizers, each on its own variables, under the
    TensorFlow and the JAX backends (the GANs, the adversarial autoencoder, SRGAN).

    Keras 3's ``fit`` steps one optimizer; this base class holds the one backend-specific part of
    a several-optimizer step, :meth:`gradient_step` ("gradients of this loss with respect to these
    variables, applied with this optimizer"), so a subclass writes its step once, statefully:

    * ``compile(optimizers={"d_optimizer": ..., "g_optimizer": ...})`` sets each optimizer as an
      attribute of that name;
    * :meth:`optimizer_variables`: optimizer attribute name -> the variables it steps;
    * :meth:`train_batch` (each update a :meth:`gradient_step`) and :meth:`test_batch` return the logs.

    TensorFlow: ``train_step(data)`` runs ``train_batch``, and each gradient step is a
    ``tf.GradientTape`` and ``apply_gradients``. JAX: ``fit`` passes the state in and out of a
    jitted ``train_step(state, data)``; here the model's ``optimizer`` is a :class:`OptimizerGroup`
    of the optimizers (so their variables travel in the state), ``train_batch`` runs in a
    ``keras.StatelessScope`` over the whole state, and each gradient step is ``jax.value_and_grad``
    of the loss (in a nested scope) and ``optimizer.apply``: the recipe of Keras's "Customizing
    fit() with JAX" guide, with scopes in place of ``stateless_call``. Under JAX ``fit`` also
    builds an unbuilt model by calling it on a training batch, which a model of several networks
    may not take: a family marks the model ``built`` once it has created the networks' weights.

    >>> class TwoHeads(MultiOptimizerModel):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a, self.b = keras.layers.Dense(1), keras.layers.Dense(1)
    ...     def call(self, x):
    ...         return self.a(x) + self.b(x)
    ...     def optimizer_variables(self):
    ...         return {"a_optimizer": self.a.trainable_weights, "b_optimizer": self.b.trainable_weights}
    ...     def train_batch(self, data):
    ...         x, y = data
    ...         a = self.gradient_step("a_optimizer", lambda: keras.ops.mean((self.a(x) - y) ** 2))
    ...         b = self.gradient_step("b_optimizer", lambda: keras.ops.mean((self.b(x) + y) ** 2))
    ...         return {"a": a, "b": b}
    >>> import numpy as np
    >>> model = TwoHeads()
    >>> _ = model(keras.ops.ones((1, 2)))
    >>> model.compile(optimizers={"a_optimizer": keras.optimizers.SGD(0.1), "b_optimizer": keras.optimizers.SGD(0.1)})
    >>> x = np.ones((8, 2), "float32")
    >>> logs = model.fit(x, 2 * x[:, :1], batch_size=8, epochs=20, verbose=0).history
    >>> logs["a"][-1] < logs["a"][0] / 10, logs["b"][-1] < logs["b"][0] / 10
    (True, True)
    """

    def compile(self, optimizers: Mapping[str, keras.optimizers.Optimizer], **kwargs: Any) -> None:
        if keras.backend.backend() == "jax":
            kwargs["optimizer"] = OptimizerGroup(list(optimizers.values()))
        super().compile(**kwargs)
        for name, optimizer in optimizers.items():
            setattr(self, name, optimizer)

    def optimizer_variables(self) -> dict[str, list[Any]]:
        """Optimizer attribute name -> the variables that optimizer steps."""
        raise NotImplementedError

    def train_batch(self, data: Any) -> dict[str, Any]:
        """One training step on ``data``, written statefully; returns the logs."""
        raise NotImplementedError

    def test_batch(self, data: Any) -> dict[str, Any]:
        """One evaluation step on ``data``, written statefully; returns the logs."""
        raise NotImplementedError

    def gradient_step(self, optimizer: str, loss_fn: Callable[[], Any], has_aux: bool = False) -> Any:
        """Steps optimizer ``optimizer`` (an attribute name) on the gradient of ``loss_fn()`` with
        respect to its :meth:`optimizer_variables`; returns the loss (``loss_fn()`` itself, a
        ``(loss, aux)`` pair, with ``has_aux``)."""
        variables, optimizer_ = self.optimizer_variables()[optimizer], getattr(self, optimizer)
        backend = keras.backend.backend()
        if backend == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                out = loss_fn()
            loss = out[0] if has_aux else out
            optimizer_.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return out
        if backend != "jax":
            raise NotImplementedError(f"{type(self).__name__} trains under the 'tensorflow' and 'jax' backends; "
                                      f"got {backend!r}")
        import jax

        state_variables = _STEP_VARIABLES.get()
        if state_variables is None:
            raise RuntimeError("under JAX, gradient_step runs inside train_step (fit, train_on_batch)")
        stepped = {id(v) for v in variables}
        others = [v for v in state_variables if id(v) not in stepped]
        other_values = [v.value for v in others]

        def compute(values: list[Any]) -> tuple[Any, tuple[Any, list[Any]]]:
            with keras.StatelessScope(state_mapping=[*zip(variables, values), *zip(others, other_values)]) as scope:
                out = loss_fn()
            loss, aux = out if has_aux else (out, None)
            return loss, (aux, [scope.get_current_value(v) for v in others])

        (loss, (aux, updates)), grads = jax.value_and_grad(compute, has_aux=True)([v.value for v in variables])
        for variable, value in zip(others, updates):  # batch norm statistics, seeds: recorded in train_step's scope
            variable.assign(value)
        optimizer_.apply(grads, variables)
        return (loss, aux) if has_aux else loss

    def _build_optimizers(self) -> None:
        for name, variables in self.optimizer_variables().items():
            optimizer = getattr(self, name)
            if not optimizer.built:
                optimizer.build(variables)

    def make_train_function(self, force: bool = False) -> Any:
        if keras.backend.backend() == "jax":  # the optimizers' variables must exist before the state is taken
            self._build_optimizers()
        return super().make_train_function(force)

    def _stateless(self, step: Callable[[Any], dict[str, Any]], groups: Sequence[list[Any]], state: Sequence[Any],
                   data: Any) -> tuple[dict[str, Any], tuple[list[Any], ...]]:
        """Runs ``step(data)`` in a ``StatelessScope`` mapping the variable ``groups`` to ``state``;
        returns the logs and the groups' new values."""
        token = _STEP_VARIABLES.set([v for variables in groups for v in variables])
        try:
            with keras.StatelessScope(state_mapping=[pair for variables, values in zip(groups, state)
                                                     for pair in zip(variables, values)]) as scope:
                logs = step(data)
        finally:
            _STEP_VARIABLES.reset(token)
        return logs, tuple([scope.get_current_value(v) for v in variables] for variables in groups)

    def train_step(self, *args: Any) -> Any:
        if keras.backend.backend() != "jax":
            return self.train_batch(*args)
        state, data = args
        return self._stateless(self.train_batch, (self.trainable_variables, self.non_trainable_variables,
                                                  self.optimizer.variables, self.metrics_variables), state, data)

    def test_step(self, *args: Any) -> Any:
        if keras.backend.backend() != "jax":
            return self.test_batch(*args)
        state, data = args
        return self._stateless(self.test_batch, (self.trainable_variables, self.non_trainable_variables,
                                                 self.metrics_variables), state, data)


class OptimizerGroup(keras.optimizers.Optimizer):
    """The optimizers of a :class:`MultiOptimizerModel` as its one ``optimizer`` under JAX, so that
    their variables travel in the state ``fit`` passes through the jitted step. It applies
    nothing itself: each member steps its own variables.
    """

    def __init__(self, optimizers: Sequence[keras.optimizers.Optimizer], name: str = "optimizer_group") -> None:
        super().__init__(learning_rate=0.0, name=name)
        self.optimizers = list(optimizers)
        self.built = True

    @property
    def variables(self) -> list[Any]:
        return [v for optimizer in self.optimizers for v in optimizer.variables]

    def build(self, variables: Any) -> None:
        self.built = True

    def apply(self, grads: Any, trainable_variables: Any = None) -> None:
        raise TypeError("an OptimizerGroup applies nothing: each of its optimizers steps its own variables")
