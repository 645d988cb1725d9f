"""The one registry of model families.

A family registers itself when its module is imported::

    @registry.register
    class Cnn(ClassifierFamily):
        name = "cnn"
        ...

:data:`FAMILY_MODULES` names every family module; :func:`get` and :func:`names`
import them on first use, so importing ``models`` (or the Keras-free contracts
in ``models.features``) imports no family and no Keras. Adding a family is one
new file plus its name there.
"""

from __future__ import annotations

import dataclasses
import importlib

from models.base import ROLES, TASKS, ModelFamily
from models.common import PRECISIONS
from models.hparams import HParams

# One name per family module (models/<name>.py): importing it registers its families.
FAMILY_MODULES = ("aae", "autoencoder", "bert", "cnn", "dbn", "esn", "flow", "forecaster", "gan", "lapgan", "rnn",
                  "seq2seq", "srgan", "tree", "vae")

_FAMILIES: dict[str, ModelFamily] = {}
_UNAVAILABLE: dict[str, str] = {}  # family module -> the library it needs that is not installed here


def _import_families() -> None:
    """Imports every family module; one whose library is not installed (e.g. TensorFlow on a Keras and
    JAX machine) is left out and named in :func:`get`'s error."""
    for module in FAMILY_MODULES:
        if module in _UNAVAILABLE:
            continue
        try:
            importlib.import_module(f"models.{module}")
        except ModuleNotFoundError as error:
            if not error.name or error.name.split(".")[0] == "models":
                raise
            _UNAVAILABLE[module] = error.name


def register(cls: type[ModelFamily]) -> type[ModelFamily]:
    """Class decorator: registers one instance of ``cls`` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} has no name")
    if not (dataclasses.is_dataclass(cls.hparams_cls) and issubclass(cls.hparams_cls, HParams)):
        raise ValueError(f"{cls.__qualname__}.hparams_cls must be a dataclass extending models.hparams.HParams")
    if not cls.precisions or set(cls.precisions) - set(PRECISIONS):
        raise ValueError(f"{cls.__qualname__}.precisions is {cls.precisions!r}; known: {', '.join(PRECISIONS)}")
    if cls.task not in TASKS:
        raise ValueError(f"{cls.__qualname__}.task is {cls.task!r}; known: {', '.join(TASKS)}")
    bad = sorted(set(cls.signature_roles.values()) - set(ROLES))
    if bad:
        raise ValueError(f"{cls.__qualname__} declares unknown signature role(s) {bad}; known: {', '.join(ROLES)}")
    if cls.main_signature not in cls.signature_roles:
        raise ValueError(f"{cls.__qualname__}.main_signature {cls.main_signature!r} is not among its "
                         f"signature_roles {sorted(cls.signature_roles)}")
    if cls.name in _FAMILIES and type(_FAMILIES[cls.name]) is not cls:
        raise ValueError(f"model family '{cls.name}' is registered twice")
    _FAMILIES[cls.name] = cls()
    return cls


def get(name: str) -> ModelFamily:
    """Returns the family registered as ``name``; the error lists the choices."""
    if name not in _FAMILIES:
        _import_families()
    try:
        return _FAMILIES[name]
    except KeyError:
        unavailable = "".join(f"; models/{m}.py needs {lib}, not installed here" for m, lib in _UNAVAILABLE.items())
        raise KeyError(f"unknown model '{name}'; choices: {', '.join(names())}{unavailable}") from None


def names() -> list[str]:
    """Every registered family's name (all of :data:`FAMILY_MODULES` imported)."""
    _import_families()
    return sorted(_FAMILIES)
