"""Deep belief network, as the notes define it: a stack of restricted Boltzmann
machines pretrained greedily, layer by layer, by contrastive divergence, then
fine-tuned as a classifier with a softmax output layer.

``train`` runs the schedule: for each RBM in turn, CD-k on the hidden
probabilities of the (fixed) RBMs below it
(:class:`models.layers.rbm.ContrastiveDivergence`), then supervised
fine-tuning of the whole stack plus the softmax layer with ``fit``. Every step
differentiates an ordinary loss, so training is backend-neutral.

Serving signatures: ``classify`` (transformed features -> ``probabilities``,
``classes``) and ``features`` (-> the top RBM's hidden probabilities).
:meth:`Dbn.weight_images` gives the first RBM's filters for the report.

Example:

>>> from models import registry
>>> family = registry.get("dbn")
>>> data = DataSpec({"image": FeatureInfo((8, 8, 1), "float32")}, "label", 10)
>>> model = family.build(family.hparams({"hidden_units": (16, 8)}), data)
>>> tuple(model({"image": keras.ops.zeros((2, 8, 8, 1))}).shape)
(2, 10)
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from models import registry
from models.base import CLASSIFY, FEATURES, ClassifierFamily, DataSpec, FeatureInfo, Signature  # noqa: F401
from models.features import feature_shape
from models.features.image import image_shape
from models.hparams import ImageHParams, check_positive_int
from models.layers.rbm import RBM, ContrastiveDivergence, flatten


class DeepBeliefNetwork(keras.Model):
    """A stack of :class:`RBM` layers (the up-pass of their hidden
    probabilities) and a softmax classifier on top.

    ``call`` returns class probabilities; :meth:`features` the top hidden layer.
    """

    def __init__(self, input_key: str, hidden_units: Sequence[int], num_classes: int, dropout: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not hidden_units:
            raise ValueError("a DBN needs at least one RBM layer (hidden_units is empty)")
        self.input_key = input_key
        self.rbms = [RBM(units, seed=None if seed is None else seed + i, name=f"rbm_{i}")
                     for i, units in enumerate(hidden_units)]
        self.dropout = keras.layers.Dropout(dropout, seed=seed) if dropout else None
        self.classifier = keras.layers.Dense(num_classes, activation="softmax", name="probabilities")

    def visible(self, inputs: Any) -> Any:
        """The flat visible units (pixel intensities in [0, 1]) of a batch."""
        x = inputs[self.input_key] if isinstance(inputs, dict) else inputs
        return flatten(x)

    def up(self, visible: Any, layers: int | None = None, training: bool | None = None) -> Any:
        """Hidden probabilities after the first ``layers`` RBMs (all by default)."""
        h = visible
        for rbm in self.rbms[:layers]:
            h = rbm(h)
            if self.dropout is not None:
                h = self.dropout(h, training=training)
        return h

    def features(self, inputs: Any) -> Any:
        return self.up(self.visible(inputs), training=False)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.classifier(self.up(self.visible(inputs), training=training))


@dataclasses.dataclass(kw_only=True)
class DbnHParams(ImageHParams):
    hidden_units: tuple[int, ...] = (256, 256)
    cd_k: int = 1
    pretrain_epochs: int = 20
    pretrain_learning_rate: float = 0.05
    pretrain_momentum: float = 0.5
    epochs: int = 60
    learning_rate: float = 3e-3
    dropout: float = 0.2
    batch_size: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.hidden_units:
            raise ValueError("a DBN needs at least one RBM layer (hidden_units is empty)")
        check_positive_int("cd_k", self.cd_k)
        check_positive_int("pretrain_epochs", self.pretrain_epochs)


@registry.register
class Dbn(ClassifierFamily):
    name = "dbn"
    hparams_cls = DbnHParams
    main_signature = "classify"
    signature_roles = types.MappingProxyType({"classify": CLASSIFY, "features": FEATURES})

    def input_features(self, hparams: DbnHParams) -> tuple[str, ...]:
        return (hparams.image_key,)

    def build_model(self, hparams: DbnHParams, data: DataSpec) -> keras.Model:
        size = math.prod(feature_shape(data.features, hparams.image_key))
        model = DeepBeliefNetwork(hparams.image_key, hparams.hidden_units, data.num_classes, hparams.dropout,
                                  hparams.seed, name=self.name)
        model({hparams.image_key: ops.zeros((1, size))})
        return model

    def pretrain(self, model: DeepBeliefNetwork, hparams: DbnHParams, train_ds: Any) -> dict[str, list[float]]:
        """Greedy layer-wise CD-k: each RBM learns the hidden probabilities of the
        RBMs below it, which stay fixed. Returns ``rbm_<i>_<metric>`` histories."""
        history: dict[str, list[float]] = {}
        for i, rbm in enumerate(model.rbms):
            trainer = ContrastiveDivergence(
                rbm, hparams.cd_k, encoder=lambda v, i=i: model.up(v, layers=i, training=False),
                input_key=hparams.image_key, name=f"cd_{i}")
            trainer.compile(optimizer=keras.optimizers.SGD(hparams.pretrain_learning_rate,
                                                           momentum=hparams.pretrain_momentum))
            stage = trainer.fit(train_ds, epochs=hparams.pretrain_epochs, steps_per_epoch=hparams.steps_per_epoch,
                                verbose=2)
            history.update({f"rbm_{i}_{k}": v for k, v in stage.history.items()})
        return history

    def finetune(self, model: DeepBeliefNetwork, hparams: DbnHParams, train_ds: Any, eval_ds: Any = None,
                 callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        """Supervised training of the whole stack and the softmax layer (:meth:`fit`). The
        visible biases only matter to the generative model, so they are frozen."""
        for rbm in model.rbms:
            rbm.visible_bias.trainable = False
        return self.fit(model, hparams, train_ds, eval_ds, callbacks)

    def train(self, model: DeepBeliefNetwork, hparams: DbnHParams, train_ds: Any, eval_ds: Any,
              callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict[str, list[float]]:
        history = self.pretrain(model, hparams, train_ds)
        return {**history, **self.finetune(model, hparams, train_ds, eval_ds, callbacks)}

    def signatures(self, model: DeepBeliefNetwork, hparams: DbnHParams,
                   data: DataSpec) -> dict[str, Signature]:
        def features(inputs: Mapping[str, Any]) -> dict[str, Any]:
            return {"features": model.features(inputs)}

        return {"classify": super().signatures(model, hparams, data)["predict"], "features": Signature(features)}

    def weight_images(self, model: DeepBeliefNetwork, hparams: DbnHParams,
                      data: DataSpec) -> dict[str, np.ndarray]:
        """The first RBM's filters: the weights from the pixels to each hidden unit, as an image
        (none when the input feature is not an image)."""
        if len(feature_shape(data.features, hparams.image_key)) not in (2, 3):
            return {}
        shape = image_shape(data.features, hparams.image_key)
        kernel = keras.ops.convert_to_numpy(model.rbms[0].kernel)  # (pixels, hidden)
        filters = kernel.T.reshape(-1, *shape)
        return {"rbm_filters": filters[..., 0] if shape[-1] == 1 else filters}
