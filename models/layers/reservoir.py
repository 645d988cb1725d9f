"""An echo state network's reservoir: a fixed, random, sparse recurrent layer.

The state follows the leaky-integrator update

    x_t = (1 - a) x_{t-1} + a tanh(W_in u_t + W x_{t-1} + b)

with leak rate ``a``. ``W_in`` (uniform in ``[-input_scaling, input_scaling]``)
and ``b`` (uniform in ``[-bias_scaling, bias_scaling]``) are dense; ``W`` is
sparse (each weight is zero with probability ``sparsity``) and rescaled so
that its spectral radius, the largest absolute eigenvalue, is exactly
``spectral_radius``: below 1 (for ``a = 1``) the reservoir forgets its
initial state, the echo state property. None of these weights is trained:
only a linear readout on the states is (``models/esn.py``).
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def spectral_radius(matrix: Any) -> Any:
    """The largest absolute eigenvalue of a square ``matrix`` (keras.ops).

    >>> float(spectral_radius(keras.ops.convert_to_tensor([[0.0, 2.0], [-2.0, 0.0]])))
    2.0
    """
    real, imaginary = _eigenvalues(matrix)
    return ops.max(ops.sqrt(real * real + imaginary * imaginary))


def _eigenvalues(matrix: Any) -> tuple[Any, Any]:
    """Real and imaginary parts of the eigenvalues of ``matrix``."""
    values = ops.eig(ops.cast(matrix, "float64"))[0]
    return ops.real(values), ops.imag(values)


@keras.saving.register_keras_serializable(package="zoo")
class Reservoir(keras.layers.Layer):
    """A fixed random reservoir run over ``(batch, time, features)`` inputs.

    Args:
        units: reservoir size (number of state units).
        spectral_radius: the spectral radius ``W`` is scaled to (> 0).
        input_scaling: half-width of the uniform input weights (> 0).
        leak_rate: ``a`` in (0, 1]; 1 is no leak.
        sparsity: share of recurrent weights that are zero, in [0, 1).
        bias_scaling: half-width of the uniform bias (>= 0).
        seed: seed of the random weights.
        return_sequences: return every step's state ``(batch, time, units)``,
            else the last one ``(batch, units)``.

    Example:

    >>> layer = Reservoir(20, spectral_radius=0.8, sparsity=0.8, seed=1, return_sequences=True)
    >>> tuple(layer(keras.ops.ones((2, 5, 1))).shape)
    (2, 5, 20)
    >>> round(float(spectral_radius(layer.recurrent_kernel)), 6), layer.trainable_weights
    (0.8, [])
    >>> Reservoir.from_config(layer.get_config()).get_config() == layer.get_config()
    True
    """

    def __init__(self, units: int, spectral_radius: float = 0.9, input_scaling: float = 1.0,
                 leak_rate: float = 1.0, sparsity: float = 0.9, bias_scaling: float = 0.0,
                 seed: int | None = None, return_sequences: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if not isinstance(units, int) or units < 1:
            raise ValueError(f"a reservoir needs at least one unit; got units={units!r}")
        if not spectral_radius > 0:
            raise ValueError(f"spectral_radius must be > 0; got {spectral_radius}")
        if not input_scaling > 0:
            raise ValueError(f"input_scaling must be > 0; got {input_scaling}")
        if not 0 < leak_rate <= 1:
            raise ValueError(f"leak_rate must be in (0, 1]; got {leak_rate}")
        if not 0 <= sparsity < 1:
            raise ValueError(f"sparsity must be in [0, 1); got {sparsity}")
        if bias_scaling < 0:
            raise ValueError(f"bias_scaling must be >= 0; got {bias_scaling}")
        self.units, self.target_radius = units, float(spectral_radius)
        self.input_scaling, self.leak_rate = float(input_scaling), float(leak_rate)
        self.sparsity, self.bias_scaling = float(sparsity), float(bias_scaling)
        self.seed, self.return_sequences = seed, return_sequences

    def _seed(self, offset: int) -> int | None:
        return None if self.seed is None else self.seed + offset

    def _recurrent_initializer(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        weights = keras.random.uniform(shape, -1.0, 1.0, seed=self._seed(1))
        keep = ops.cast(keras.random.uniform(shape, seed=self._seed(2)) >= self.sparsity, weights.dtype)
        weights = weights * keep
        radius = ops.cast(spectral_radius(weights), weights.dtype)
        radius = ops.where(radius > 0, radius, ops.ones_like(radius))  # an all-zero draw stays zero
        return ops.cast(weights * (self.target_radius / radius), dtype or "float32")

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        features = int(input_shape[-1])
        self.input_kernel = self.add_weight(
            shape=(features, self.units), name="input_kernel", trainable=False,
            initializer=keras.initializers.RandomUniform(-self.input_scaling, self.input_scaling,
                                                         seed=self._seed(0)))
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), name="recurrent_kernel",
                                                trainable=False, initializer=self._recurrent_initializer)
        self.bias = self.add_weight(
            shape=(self.units,), name="bias", trainable=False,
            initializer=(keras.initializers.RandomUniform(-self.bias_scaling, self.bias_scaling, seed=self._seed(3))
                         if self.bias_scaling > 0 else "zeros"))

    def call(self, inputs: Any, initial_state: Any = None) -> Any:
        inputs = ops.cast(inputs, self.compute_dtype)
        driven = ops.einsum("btf,fu->btu", inputs, self.input_kernel) + self.bias  # W_in u_t + b, every step
        state = (ops.zeros((ops.shape(inputs)[0], self.units), self.compute_dtype)
                 if initial_state is None else initial_state)

        def step(previous: Any, drive: Any) -> tuple[Any, Any]:
            update = ops.tanh(drive + ops.matmul(previous, self.recurrent_kernel))
            current = (1.0 - self.leak_rate) * previous + self.leak_rate * update
            return current, current

        last, states = ops.scan(step, state, ops.transpose(driven, (1, 0, 2)))
        return ops.transpose(states, (1, 0, 2)) if self.return_sequences else last

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "spectral_radius": self.target_radius,
                "input_scaling": self.input_scaling, "leak_rate": self.leak_rate, "sparsity": self.sparsity,
                "bias_scaling": self.bias_scaling, "seed": self.seed, "return_sequences": self.return_sequences}
