"""The Trainer's progress on the terminal while a quiet ``zoo run`` sends all other output to its log.

``pipelines.runner.quiet_output`` puts the real terminal's file descriptor in
``ZOO_PROGRESS_FD``; :class:`EpochProgress` redraws one line there per epoch
(a bar, the epoch, the latest losses) and clears it when training ends, so the
component's summary line follows. Without that variable, or on a terminal that
is not a TTY (CI logs), it writes nothing: the run's log has Keras' own lines.
"""

from __future__ import annotations

import os
from typing import IO, Any

import keras

from components.trainer import PROGRESS_FD_ENV

BAR = 20


def progress_stream() -> IO[str] | None:
    """The terminal to draw on, or ``None`` when there is none to draw on."""
    fd = os.environ.get(PROGRESS_FD_ENV)
    if not fd:
        return None
    try:
        stream = os.fdopen(int(fd), "w", closefd=False)
    except (OSError, ValueError):
        return None
    return stream if stream.isatty() else None


def progress_line(label: str, epoch: int, epochs: int, logs: dict[str, Any]) -> str:
    """One line of progress.

    >>> progress_line("Trainer", 3, 12, {"loss": 0.51234, "val_loss": 0.6, "learning_rate": 0.001})
    '  Trainer  [=====               ] epoch 3/12  loss 0.5123  val_loss 0.6000'
    """
    done = round(BAR * epoch / max(epochs, 1))
    shown = "  ".join(f"{k} {float(v):.4f}" for k, v in logs.items() if "loss" in k)
    return f"  {label}  [{'=' * done}{' ' * (BAR - done)}] epoch {epoch}/{epochs}  {shown}".rstrip()


class EpochProgress(keras.callbacks.Callback):
    """Redraws one progress line per epoch on ``stream`` (see the module docstring)."""

    def __init__(self, stream: IO[str], label: str = "Trainer") -> None:
        super().__init__()
        self.stream, self.label, self.width = stream, label, 0

    def _draw(self, text: str) -> None:
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._draw(progress_line(self.label, epoch + 1, self.params.get("epochs") or 0, logs or {}))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._draw("")
        self.stream.write("\r")
        self.stream.flush()
        self.width = 0
