"""Offline date-normalisation corpus, a translation task: human dates in, ISO dates out.

``{"source": "Tuesday, March 3rd, 2015", "target": "2015-03-03"}``: dates
from 1950 to 2049 written in many formats (month names in full or short,
ordinals, weekday names that match the date, "the 3rd of March", numeric
forms with a fixed convention per separator: ``m/d/yyyy`` and ``m/d/yy``
with slashes, ``d.m.yyyy`` with dots, ``yyyy-mm-dd``-like with a year first,
two-digit years below 50 in the 2000s) and random upper/lower/title case.
Generation is deterministic (fixed seeds); test sources never occur in train.

The TFDS builder ``zoo_dates`` has the features ``source`` and ``target``::

    import tensorflow_datasets as tfds
    from datasets import dates  # registers the builder
    ds = tfds.load("zoo_dates", split="train", data_dir=...)
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable
from typing import ClassVar

import tensorflow_datasets as tfds

from datasets import is_registered
from datasets.generated import GeneratedBuilder, disjoint_splits, distinct

FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
TRAIN_SIZE, TEST_SIZE = 10000, 1000


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


# Spelled out here, not with strftime: names must not depend on the machine's locale.
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _month(d: datetime.date) -> str:
    return MONTHS[d.month - 1]


def _mon(d: datetime.date) -> str:
    return MONTHS[d.month - 1][:3]


def _wday(d: datetime.date) -> str:
    return WEEKDAYS[d.weekday()]


FORMATS: tuple[Callable[[datetime.date], str], ...] = (
    lambda d: f"{d.day} {_month(d)} {d.year}",
    lambda d: f"{d.day:02d} {_month(d)} {d.year}",
    lambda d: f"{d.day} {_mon(d)} {d.year}",
    lambda d: f"{_month(d)} {d.day}, {d.year}",
    lambda d: f"{_mon(d)} {d.day}, {d.year}",
    lambda d: f"{_month(d)} {_ordinal(d.day)}, {d.year}",
    lambda d: f"{_ordinal(d.day)} of {_month(d)} {d.year}",
    lambda d: f"the {_ordinal(d.day)} of {_month(d)}, {d.year}",
    lambda d: f"{_wday(d)}, {_month(d)} {d.day}, {d.year}",
    lambda d: f"{_wday(d)[:3]} {d.day} {_mon(d)} {d.year}",
    lambda d: f"{_wday(d)} {_ordinal(d.day)} {_month(d)} {d.year}",
    lambda d: f"{d.day}-{_mon(d)}-{d.year}",
    lambda d: f"{_mon(d)}-{d.day:02d}-{d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year}",
    lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    lambda d: f"{d.day}.{d.month}.{d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    lambda d: f"{d.year}.{d.month}.{d.day}",
    lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
    lambda d: f"{_month(d)} {d.day} {d.year}",
)
CASES = (str, str, str.lower, str.upper)


def random_date(rng: random.Random) -> datetime.date:
    return FIRST + datetime.timedelta(days=rng.randrange((LAST - FIRST).days + 1))


def example(rng: random.Random) -> dict[str, str]:
    """One ``{"source", "target"}`` pair."""
    date = random_date(rng)
    source = rng.choice(CASES)(rng.choice(FORMATS)(date))
    return {"source": source, "target": date.isoformat()}


def generate(size: int, seed: int, exclude: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """``size`` examples with distinct sources, none in ``exclude``."""
    return distinct(random.Random(seed), lambda rng, index: example(rng), "source", size, exclude)


def splits(train_size: int = TRAIN_SIZE, test_size: int = TEST_SIZE) -> dict[str, list[dict[str, str]]]:
    """The corpus: ``{"train": [...], "test": [...]}`` (deterministic, disjoint sources)."""
    return disjoint_splits(generate, "source", {"train": (train_size, 20240611), "test": (test_size, 20240612)})


class ZooDates(GeneratedBuilder, skip_registration=is_registered("zoo_dates")):
    """Human-written dates and their ISO ``YYYY-MM-DD`` form."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {"1.0.0": "22 formats, 1950-2049, random case."}

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "source": tfds.features.Text(),
                "target": tfds.features.Text(),
            }),
            supervised_keys=("source", "target"),
        )

    def corpus(self) -> dict[str, list[dict[str, str]]]:
        return splits()
