"""Reading serialized records (tf.Examples) from TFRecord files."""

from __future__ import annotations

import glob
from collections.abc import Sequence


def read_records(files: Sequence[str], limit: int | None = None) -> list[bytes]:
    """Serialized records from ``files`` in order (GZIP where the name ends in
    ``.gz``, as ExampleGen writes them), at most ``limit``."""
    import tensorflow as tf

    records: list[bytes] = []
    for path in files:
        if limit is not None and len(records) >= limit:
            break
        dataset = tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else "")
        if limit is not None:
            dataset = dataset.take(limit - len(records))
        records.extend(record.numpy() for record in dataset)
    return records


def read_files(pattern: str, limit: int | None = None, *, error: Exception | None = None) -> list[bytes]:
    """Serialized records from the files matching the glob ``pattern`` (sorted),
    at most ``limit``; raises ``error`` (by default a FileNotFoundError) when
    no file matches."""
    files = sorted(glob.glob(pattern))
    if not files:
        raise error or FileNotFoundError(f"no files match {pattern!r}")
    return read_records(files, limit)
