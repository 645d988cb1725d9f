"""The fixed reference classifier that judges generated images.

What it is trained on is a parameter: the dotted path of a function that
returns :class:`ReferenceData` (images in [0, 1], their labels, the image shape
and the number of classes); the default, :func:`digits`, is scikit-learn's
8x8 digits. A small CNN is trained on a seeded, stratified split of that data
and cached as a ``.keras`` file whose name carries the reference's identity
(its dotted path and a digest of its data), the seed and the epochs, so every
evaluation of a pipeline uses the same judge and two references never share
one. Its penultimate layer (``features``) is the feature space of the Frechet
distance; its softmax labels the samples. Keras only (no TFX).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import re
import tempfile
from collections.abc import Callable

import keras
import numpy as np

DEFAULT_REFERENCE = "components.generative_evaluator.reference.digits"


@dataclasses.dataclass(frozen=True)
class ReferenceData:
    """Labelled images a reference classifier learns: ``images`` ``(n, *image_shape)``
    float32 in [0, 1], ``labels`` ``(n,)`` int64 in ``[0, num_classes)``."""

    images: np.ndarray
    labels: np.ndarray
    image_shape: tuple[int, ...]
    num_classes: int

    def __post_init__(self) -> None:
        images = np.asarray(self.images, dtype=np.float32)
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", np.asarray(self.labels, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "image_shape", tuple(int(d) for d in self.image_shape))
        if images.shape[1:] != self.image_shape or len(images) != len(self.labels):
            raise ValueError(f"reference images {images.shape} and labels {self.labels.shape} do not match "
                             f"the image shape {self.image_shape}")
        if images.size and (images.min() < 0 or images.max() > 1):
            raise ValueError(f"reference images must be in [0, 1]; got [{images.min()}, {images.max()}]")
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= self.num_classes):
            raise ValueError(f"reference labels must be in [0, {self.num_classes})")

    def digest(self) -> str:
        """A short digest of the data (part of the cached classifier's name)."""
        h = hashlib.sha256(json.dumps([self.image_shape, self.num_classes]).encode())
        h.update(self.images.tobytes())
        h.update(self.labels.tobytes())
        return h.hexdigest()[:12]


def digits() -> ReferenceData:
    """scikit-learn's digits: 1797 images ``(8, 8, 1)`` scaled to [0, 1], 10 classes."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return ReferenceData((data.images / 16.0).astype(np.float32)[..., None], data.target, (8, 8, 1), 10)


def resolve(reference: str | Callable[[], ReferenceData]) -> Callable[[], ReferenceData]:
    """The function a dotted path (``package.module.function``) names."""
    if callable(reference):
        return reference
    module, _, name = reference.rpartition(".")
    if not module:
        raise ValueError(f"reference must be a dotted path 'package.module.function'; got {reference!r}")
    return getattr(importlib.import_module(module), name)


def identity(reference: str | Callable[[], ReferenceData]) -> str:
    """The dotted path of a reference (given as one or as the function)."""
    return reference if isinstance(reference, str) else f"{reference.__module__}.{reference.__qualname__}"


def load_reference(reference: str | Callable[[], ReferenceData] = DEFAULT_REFERENCE) -> ReferenceData:
    data = resolve(reference)()
    if not isinstance(data, ReferenceData):
        raise TypeError(f"reference {reference!r} returned {type(data).__name__}, not ReferenceData")
    return data


def split(data: ReferenceData, seed: int = 0, test_size: float = 0.2) -> tuple[np.ndarray, ...]:
    """``(x_train, x_test, y_train, y_test)``: stratified, seeded."""
    from sklearn.model_selection import train_test_split

    return tuple(train_test_split(data.images, data.labels, test_size=test_size, random_state=seed,
                                  stratify=data.labels))


def load_digits_split(seed: int = 0, test_size: float = 0.2) -> tuple[np.ndarray, ...]:
    """sklearn digits as ``(x_train, x_test, y_train, y_test)``: images
    ``(n, 8, 8, 1)`` float32 in [0, 1], labels int64; stratified, seeded."""
    return split(digits(), seed, test_size)


def build_classifier(image_shape: tuple[int, ...], num_classes: int, seed: int = 0) -> keras.Model:
    """Conv(32) -> Conv(64) -> max-pool -> dense ``features`` (64) -> softmax."""
    init = keras.initializers.GlorotUniform
    images = keras.Input(image_shape, name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init(seed))(images)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init(seed + 1))(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3, seed=seed)(x)
    features = keras.layers.Dense(64, activation="relu", name="features", kernel_initializer=init(seed + 2))(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="probabilities",
                                       kernel_initializer=init(seed + 3))(features)
    return keras.Model(images, probabilities, name="reference_classifier")


def train_classifier(data: ReferenceData, seed: int = 0, epochs: int = 40) -> tuple[keras.Model, float]:
    """Trains the reference CNN on the seeded training split of ``data``; returns
    it and its held-out accuracy."""
    keras.utils.set_random_seed(seed)
    x_train, x_test, y_train, y_test = split(data, seed)
    model = build_classifier(data.image_shape, data.num_classes, seed)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    return model, accuracy


@dataclasses.dataclass
class ReferenceClassifier:
    """The cached judge: ``predict`` returns ``(probabilities, features)``."""

    model: keras.Model
    accuracy: float
    reference: str = DEFAULT_REFERENCE

    def __post_init__(self) -> None:
        self._both = keras.Model(self.model.inputs,
                                 [self.model.output, self.model.get_layer("features").output])

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.model.inputs[0].shape[1:])

    @property
    def num_classes(self) -> int:
        return int(self.model.output.shape[-1])

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images, dtype=np.float32)
        if images.size != len(images) * int(np.prod(self.image_shape)):
            raise ValueError(f"the reference classifier ({self.reference}) judges images {self.image_shape}; "
                             f"got {images.shape}")
        probabilities, features = self._both.predict(images.reshape((-1, *self.image_shape)), batch_size=512,
                                                     verbose=0)
        return probabilities, features


def cache_name(reference: str, data: ReferenceData, seed: int, epochs: int) -> str:
    """The cached classifier's file name: the reference's identity, seed and epochs.

    >>> data = ReferenceData(np.zeros((2, 2, 2, 1)), [0, 1], (2, 2, 1), 2)
    >>> cache_name("my.module.images", data, 0, 40)
    'my.module.images-67a4dd1bd059_s0_e40.keras'
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", reference)[-80:]
    return f"{slug}-{data.digest()}_s{seed}_e{epochs}.keras"


def load_reference_classifier(cache_dir: str, seed: int = 0, epochs: int = 40,
                              reference: str | Callable[[], ReferenceData] = DEFAULT_REFERENCE
                              ) -> ReferenceClassifier:
    """Loads the classifier of ``reference`` (a dotted path or the function)
    cached in ``cache_dir``, training and caching it first if absent."""
    data, name = load_reference(reference), identity(reference)
    path = os.path.join(cache_dir, cache_name(name, data, seed, epochs))
    info_path = path + ".json"
    if not (os.path.exists(path) and os.path.exists(info_path)):
        model, accuracy = train_classifier(data, seed, epochs)
        os.makedirs(cache_dir, exist_ok=True)
        # Write to a temporary name, then rename: concurrent evaluators never read half a file.
        fd, tmp = tempfile.mkstemp(suffix=".keras", dir=cache_dir)
        os.close(fd)
        model.save(tmp)
        with open(info_path + ".tmp", "w") as f:
            json.dump({"heldout_accuracy": accuracy, "reference": name, "seed": seed, "epochs": epochs}, f)
        os.replace(tmp, path)
        os.replace(info_path + ".tmp", info_path)
    with open(info_path) as f:
        accuracy = json.load(f)["heldout_accuracy"]
    return ReferenceClassifier(keras.saving.load_model(path), accuracy, name)
