"""The ``photos`` TFDS dataset: super-resolution patches of scikit-learn's two sample photographs.

scikit-learn ships two 427x640 RGB photographs (``load_sample_images``:
``china.jpg``, a temple, and ``flower.jpg``), so building this needs no
network. ``train`` holds :data:`TRAIN_PATCHES` patches of ``china.jpg`` at
seeded random positions; ``test`` holds every non-overlapping patch of
``flower.jpg`` on a grid (the held-out photograph: nothing of it is seen in
training). Each example is a :data:`PATCH` x :data:`PATCH` RGB ``high_res``
patch and its ``low_res`` version, bicubic downsampling with antialiasing
(``tf.image.resize``) by the config's factor, rounded to ``uint8``.
Configs: ``photos/x2`` (default, 16x16 -> 32x32) and ``photos/x4``
(8x8 -> 32x32). The feature names are the contract of
``models.features.super_resolution`` (not imported here: registering the
builders imports no model code).

>>> hr = patches_on_grid(np.zeros((70, 100, 3), np.uint8), 32)
>>> hr.shape
(6, 32, 32, 3)
>>> downsample(np.full((1, 32, 32, 3), 200, np.uint8), 4)[0, :2, :2, 0].tolist()
[[200, 200], [200, 200]]
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from datasets import is_registered

PATCH = 32
TRAIN_PATCHES = 1024
TRAIN_IMAGE, TEST_IMAGE = "china.jpg", "flower.jpg"
SEED = 20240601
HIGH_RES, LOW_RES = "high_res", "low_res"  # models.features.super_resolution.HIGH_RES, LOW_RES
FACTORS = (2, 4)

_DESCRIPTION = """\
Super-resolution pairs from the two sample photographs scikit-learn ships
(china.jpg for training, flower.jpg held out): 32x32 RGB high-resolution
patches and their bicubic (antialiased) downsampling by 2 or 4.
"""


def sample_images() -> dict[str, np.ndarray]:
    """scikit-learn's sample photographs by file name: uint8 ``(427, 640, 3)`` each."""
    from sklearn.datasets import load_sample_images  # lazy: keeps `import datasets` cheap

    bunch = load_sample_images()
    return {name.rsplit("/", 1)[-1]: np.asarray(image, np.uint8) for name, image in zip(bunch.filenames,
                                                                                        bunch.images)}


def patches_on_grid(image: np.ndarray, size: int) -> np.ndarray:
    """Every non-overlapping ``size`` x ``size`` patch of ``image``, row by row."""
    rows, columns = image.shape[0] // size, image.shape[1] // size
    return np.stack([image[r * size:(r + 1) * size, c * size:(c + 1) * size]
                     for r in range(rows) for c in range(columns)])


def random_patches(image: np.ndarray, size: int, count: int, seed: int) -> np.ndarray:
    """``count`` ``size`` x ``size`` patches of ``image`` at seeded uniform positions."""
    rng = np.random.default_rng(seed)
    tops = rng.integers(0, image.shape[0] - size + 1, count)
    lefts = rng.integers(0, image.shape[1] - size + 1, count)
    return np.stack([image[t:t + size, s:s + size] for t, s in zip(tops, lefts)])


def downsample(patches: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic downsampling with antialiasing (``tf.image.resize``) by ``factor``, rounded to uint8."""
    import tensorflow as tf

    height, width = patches.shape[1] // factor, patches.shape[2] // factor
    small = tf.image.resize(tf.constant(patches, tf.float32), (height, width), method="bicubic", antialias=True)
    return np.clip(np.rint(small.numpy()), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def splits(factor: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{"train"|"test": (high_res, low_res)}`` uint8 arrays for ``factor``."""
    if factor not in FACTORS:
        raise ValueError(f"factor must be one of {FACTORS}, got {factor!r}")
    images = sample_images()
    high = {"train": random_patches(images[TRAIN_IMAGE], PATCH, TRAIN_PATCHES, SEED),
            "test": patches_on_grid(images[TEST_IMAGE], PATCH)}
    return {name: (hr, downsample(hr, factor)) for name, hr in high.items()}


class PhotosConfig(tfds.core.BuilderConfig):
    """A downsampling factor."""

    def __init__(self, *, factor: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.factor = factor


class Photos(tfds.core.GeneratorBasedBuilder, skip_registration=is_registered("photos")):
    """Patches of scikit-learn's sample photographs with their bicubic downsampling (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}
    BUILDER_CONFIGS: ClassVar[list[PhotosConfig]] = [
        PhotosConfig(name=f"x{f}", description=f"{PATCH // f}x{PATCH // f} -> {PATCH}x{PATCH}", factor=f)
        for f in FACTORS]

    def _info(self) -> tfds.core.DatasetInfo:
        low = PATCH // self.builder_config.factor
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                HIGH_RES: tfds.features.Image(shape=(PATCH, PATCH, 3), dtype=np.uint8),
                LOW_RES: tfds.features.Image(shape=(low, low, 3), dtype=np.uint8),
            }),
            supervised_keys=(LOW_RES, HIGH_RES),
            homepage="https://scikit-learn.org/stable/modules/generated/sklearn.datasets.load_sample_images.html",
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # the photographs are bundled with scikit-learn
        return {name: self._generate_examples(name) for name in ("train", "test")}

    def _generate_examples(self, split: str) -> Iterator[tuple[int, dict]]:
        high, low = splits(self.builder_config.factor)[split]
        for index in range(len(high)):
            yield index, {HIGH_RES: high[index], LOW_RES: low[index]}
