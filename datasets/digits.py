"""The ``digits`` TFDS dataset: scikit-learn's bundled 8x8 handwritten digits.

The data ships with scikit-learn (``sklearn.datasets.load_digits``), so building
it needs no network. Pixels are rescaled from 0..16 to 0..255 and stored as an
8x8x1 ``uint8`` image. The split is a stratified 80/20 split with a fixed seed:
1437 ``train`` and 360 ``test`` examples. The key of an example is its row in
``load_digits``, so keys are stable across builds.

Example:

>>> import tensorflow_datasets as tfds
>>> import datasets  # registers `digits`
>>> tfds.builder_cls("digits").VERSION
Version('1.0.0')
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from datasets import is_registered

IMAGE_SHAPE = (8, 8, 1)
NUM_CLASSES = 10
# scikit-learn's digits are counts of set pixels in 4x4 blocks: 0..16.
SOURCE_MAX_VALUE = 16
TEST_FRACTION = 0.2
SPLIT_SEED = 20240501

_DESCRIPTION = """\
Optical recognition of handwritten digits (UCI), as bundled with scikit-learn:
1797 grey-scale 8x8 images of the digits 0-9 written by 43 people. Each pixel,
originally the count (0..16) of set pixels in a 4x4 block of a 32x32 bitmap, is
rescaled to 0..255. Splits are a stratified 80/20 split with a fixed seed.
"""

_CITATION = """\
@misc{alpaydin1998optical,
  author = {Alpaydin, E. and Kaynak, C.},
  title = {Optical Recognition of Handwritten Digits},
  year = {1998},
  howpublished = {UCI Machine Learning Repository},
  doi = {10.24432/C50P49}
}
"""

_HOMEPAGE = "https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"


@functools.lru_cache(maxsize=1)
def load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Returns ``(images, labels)``: uint8 ``(1797, 8, 8, 1)`` in 0..255 and int64 ``(1797,)``."""
    from sklearn.datasets import load_digits  # Lazy: keeps `import datasets` cheap.

    bunch = load_digits()
    scaled = np.rint(bunch.images * (255.0 / SOURCE_MAX_VALUE))
    images = scaled.astype(np.uint8).reshape((-1, *IMAGE_SHAPE))
    return images, bunch.target.astype(np.int64)


@functools.lru_cache(maxsize=1)
def split_indices() -> dict[str, np.ndarray]:
    """Returns the sorted row indices of the ``train`` and ``test`` splits (stratified, seeded)."""
    from sklearn.model_selection import train_test_split

    _, labels = load_arrays()
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=TEST_FRACTION,
        stratify=labels,
        random_state=SPLIT_SEED,
    )
    return {"train": np.sort(train), "test": np.sort(test)}


class Digits(tfds.core.GeneratorBasedBuilder, skip_registration=is_registered("digits")):
    """scikit-learn's 8x8 handwritten digits as a TFDS dataset (no download)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "Initial release."}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=IMAGE_SHAPE, dtype=np.uint8),
                    "label": tfds.features.ClassLabel(num_classes=NUM_CLASSES),
                }
            ),
            supervised_keys=("image", "label"),
            homepage=_HOMEPAGE,
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # The data is bundled with scikit-learn.
        return {name: self._generate_examples(rows) for name, rows in split_indices().items()}

    def _generate_examples(self, rows: np.ndarray) -> Iterator[tuple[int, dict]]:
        images, labels = load_arrays()
        for row in rows:
            yield int(row), {"image": images[row], "label": int(labels[row])}
