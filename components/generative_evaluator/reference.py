"""The fixed reference digits classifier that judges generated digits.

A small CNN trained by the project on scikit-learn's digits (8x8, pixel values
scaled to [0, 1]) with a fixed seed and split, cached as a ``.keras`` file so
every evaluation uses the same judge. Its penultimate layer (``features``) is
the feature space of the Frechet distance; its softmax labels the samples.
Keras only (no TFX).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

import keras
import numpy as np

FILE_NAME = "digits_reference_cnn.keras"
IMAGE_SHAPE = (8, 8, 1)
NUM_CLASSES = 10


def load_digits_split(seed: int = 0, test_size: float = 0.2) -> tuple[np.ndarray, ...]:
    """sklearn digits as ``(x_train, x_test, y_train, y_test)``: images
    ``(n, 8, 8, 1)`` float32 in [0, 1], labels int64; stratified, seeded."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    return tuple(train_test_split(images, digits.target.astype(np.int64), test_size=test_size,
                                  random_state=seed, stratify=digits.target))


def build_classifier(seed: int = 0) -> keras.Model:
    """Conv(32) -> Conv(64) -> max-pool -> dense ``features`` (64) -> softmax."""
    init = keras.initializers.GlorotUniform
    images = keras.Input(IMAGE_SHAPE, name="image")
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", kernel_initializer=init(seed))(images)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init(seed + 1))(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.3, seed=seed)(x)
    features = keras.layers.Dense(64, activation="relu", name="features", kernel_initializer=init(seed + 2))(x)
    probabilities = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities",
                                       kernel_initializer=init(seed + 3))(features)
    return keras.Model(images, probabilities, name="digits_reference")


def train_classifier(seed: int = 0, epochs: int = 40) -> tuple[keras.Model, float]:
    """Trains the reference CNN on the seeded training split; returns it and its
    held-out accuracy."""
    keras.utils.set_random_seed(seed)
    x_train, x_test, y_train, y_test = load_digits_split(seed)
    model = build_classifier(seed)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy")
    model.fit(x_train, y_train, batch_size=32, epochs=epochs, shuffle=True, verbose=0)
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    return model, accuracy


@dataclasses.dataclass
class ReferenceClassifier:
    """The cached judge: ``predict`` returns ``(probabilities, features)``."""

    model: keras.Model
    accuracy: float

    def __post_init__(self) -> None:
        self._both = keras.Model(self.model.inputs,
                                 [self.model.output, self.model.get_layer("features").output])

    def predict(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = np.asarray(images, dtype=np.float32).reshape((-1, *IMAGE_SHAPE))
        probabilities, features = self._both.predict(images, batch_size=512, verbose=0)
        return probabilities, features


def load_reference_classifier(cache_dir: str, seed: int = 0, epochs: int = 40) -> ReferenceClassifier:
    """Loads the classifier cached in ``cache_dir``, training and caching it
    first if absent (the file name carries the seed and epochs)."""
    path = os.path.join(cache_dir, f"s{seed}_e{epochs}_{FILE_NAME}")
    info_path = path + ".json"
    if not (os.path.exists(path) and os.path.exists(info_path)):
        model, accuracy = train_classifier(seed, epochs)
        os.makedirs(cache_dir, exist_ok=True)
        # Write to a temporary name, then rename: concurrent evaluators never read half a file.
        fd, tmp = tempfile.mkstemp(suffix=".keras", dir=cache_dir)
        os.close(fd)
        model.save(tmp)
        with open(info_path + ".tmp", "w") as f:
            json.dump({"heldout_accuracy": accuracy, "seed": seed, "epochs": epochs}, f)
        os.replace(tmp, path)
        os.replace(info_path + ".tmp", info_path)
    with open(info_path) as f:
        accuracy = json.load(f)["heldout_accuracy"]
    return ReferenceClassifier(keras.saving.load_model(path), accuracy)
