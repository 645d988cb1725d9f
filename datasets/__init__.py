"""Local TFDS builders of the zoo.

Importing this package registers every builder in it with TFDS, so that
``tfds.builder('digits')`` works; ``TfdsExampleGen`` imports it by default
(``builder_modules=['datasets']``). Local builders read data bundled with
installed packages and never download.

A builder module may be executed twice (pytest's importlib mode re-runs a
module it collects for doctests); TFDS refuses a second registration, so
builders declare themselves with ``skip_registration=is_registered(name)``.
"""

from tensorflow_datasets.core import registered


def is_registered(name: str) -> bool:
    """Whether a TFDS builder called ``name`` is registered already."""
    try:
        registered.imported_builder_cls(name)
    except registered.DatasetNotFoundError:
        return False
    return True


# One line per builder module: importing it registers the builder.
from datasets import (
    corpus,  # noqa: F401
    dates,  # noqa: F401
    digits,  # noqa: F401
    expressions,  # noqa: F401
    pairs,  # noqa: F401
    photos,  # noqa: F401
    reviews,  # noqa: F401
    series,  # noqa: F401
)

