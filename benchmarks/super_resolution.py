"""SRGAN on real photographs: PSNR/SSIM against bicubic and against the same generator trained on the
content loss alone, on the held-out photograph, side by side, with a picture of each.

Data: the ``photos`` dataset's arrays (``datasets/photos.py``: 32x32 patches of scikit-learn's
``china.jpg`` for training, every grid patch of ``flower.jpg`` held out, low resolution by antialiased
bicubic downsampling), scaled to [0, 1] as the Transform does. Two generators with the same seed,
architecture and total epochs (``models/srgan.py``, the pipeline's hyperparameters unless
``--hparam`` says otherwise):

* content loss alone (``adversarial_weight=0``: SRResNet), ``pretrain + epochs`` epochs;
* SRGAN: the same ``pretrain`` epochs of content loss, then ``epochs`` with the adversarial term.

Printed: PSNR (dB) of the held-out photograph (its tiles together), the mean of the tiles' PSNRs and
the mean SSIM, of bicubic and of each model, and the gains over bicubic. Pictures (PNG, written under
``--out``, the path printed): a 128x128 region of the held-out photograph downsampled by the factor and
upscaled whole by each method (the served generator takes any size): ``low_res``, ``bicubic``,
``content_only``, ``srgan`` (one per weight), ``truth``, and ``comparison.png`` with them side by side.

Run: ``python benchmarks/super_resolution.py [--epochs 10 --pretrain 5 --weights 1e-3 1e-4 --out DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

REGION = (140, 260, 128)  # top, left, side of the held-out photograph's region shown in the pictures


def _train(overrides: dict[str, Any], train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
           seed: int) -> tuple[Any, float]:
    import keras
    import tensorflow as tf

    from models import registry
    from models.base import DataSpec, FeatureInfo

    family = registry.get("srgan")
    hp = family.hparams({"seed": seed, **overrides})
    keras.utils.set_random_seed(seed)
    high, low = train
    data = DataSpec({"high_res": FeatureInfo(high.shape[1:], "float32"),
                     "low_res": FeatureInfo(low.shape[1:], "float32")})
    model = family.build(hp, data)

    def dataset(pair, shuffle):
        ds = tf.data.Dataset.from_tensor_slices({"high_res": pair[0], "low_res": pair[1]})
        return (ds.shuffle(len(pair[0]), seed=seed) if shuffle else ds).batch(hp.batch_size if shuffle else 256)

    start = time.perf_counter()
    family.train(model, hp, dataset(train, True), dataset(test, False))
    seconds = time.perf_counter() - start
    print(f"[srgan {overrides}] trained in {seconds:.0f}s")
    upscale = family.signatures(model, hp, data)["upscale"].fn
    return (lambda images: np.asarray(upscale({"image": images.astype(np.float32)})["image"])), seconds


def _png(path: str, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)).save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, default=2, choices=(2, 4))
    parser.add_argument("--epochs", type=int, default=None, help="adversarial epochs (default: the pipeline's)")
    parser.add_argument("--pretrain", type=int, default=None, help="content-loss epochs first (default: pipeline's)")
    parser.add_argument("--hparam", action="append", default=[], help="NAME=VALUE (JSON value), both models")
    parser.add_argument("--weights", nargs="+", type=float, default=None,
                        help="SRGAN adversarial weights, one model each (default: the pipeline's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "zoo-super-resolution"))
    args = parser.parse_args()

    from components.super_resolution_evaluator.metrics import bicubic, super_resolution_metrics
    from datasets import photos
    from pipelines.super_resolution import PHOTOS_SRGAN

    splits = photos.splits(args.factor)
    train = tuple(a.astype(np.float32) / 255.0 for a in splits["train"])
    test = tuple(a.astype(np.float32) / 255.0 for a in splits["test"])
    overrides = {**PHOTOS_SRGAN.hparams, "factor": args.factor}
    for item in args.hparam:
        name, _, value = item.partition("=")
        try:
            overrides[name] = json.loads(value)
        except json.JSONDecodeError:
            overrides[name] = value  # a bare string
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    from models import registry

    defaults = registry.get("srgan").hparams(overrides)
    pretrain = defaults.pretrain_epochs if args.pretrain is None else args.pretrain
    epochs = defaults.epochs

    high, low = test
    baseline = bicubic(low, args.factor)
    weights = args.weights or [defaults.adversarial_weight or 1e-3]
    models = {"content_only": {**overrides, "adversarial_weight": 0.0, "pretrain_epochs": 0,
                               "epochs": pretrain + epochs}}
    for weight in weights:
        name = "srgan" if len(weights) == 1 else f"srgan_w{weight:g}"
        models[name] = {**overrides, "adversarial_weight": weight, "pretrain_epochs": pretrain, "epochs": epochs}
    figures = ("psnr", "patch_psnr", "ssim")
    b = super_resolution_metrics(baseline, baseline, high)
    rows = [("bicubic", *(b[k] for k in figures), 0.0, 0.0, "-")]
    upscalers = {}
    for name, hp in models.items():
        upscale, seconds = _train(hp, train, test, args.seed)
        upscalers[name] = upscale
        m = super_resolution_metrics(np.clip(upscale(low), 0, 1), baseline, high)
        rows.append((name, *(m[k] for k in figures), m["psnr_gain"], m["ssim_gain"], f"{seconds:.0f}s"))

    os.makedirs(args.out, exist_ok=True)
    top, left, side = REGION
    truth = photos.sample_images()[photos.TEST_IMAGE][top:top + side, left:left + side]
    small = photos.downsample(truth[None], args.factor)[0].astype(np.float32) / 255.0
    pictures = {"low_res": np.repeat(np.repeat(small, args.factor, 0), args.factor, 1),
                "bicubic": bicubic(small[None], args.factor)[0],
                **{name: np.clip(upscale(small[None])[0], 0, 1) for name, upscale in upscalers.items()},
                "truth": truth.astype(np.float32) / 255.0}
    for name, image in pictures.items():
        _png(os.path.join(args.out, f"{name}.png"), image)
    gap = np.ones((side, 4, 3), np.float32)
    _png(os.path.join(args.out, "comparison.png"),
         np.concatenate([part for image in pictures.values() for part in (image, gap)][:-1], axis=1))

    print(f"\nheld-out photograph ({photos.TEST_IMAGE}): {len(high)} patches {high.shape[1]}x{high.shape[2]}, "
          f"x{args.factor} from {low.shape[1]}x{low.shape[2]}; {pretrain} content epochs, then {epochs} "
          f"(SRGAN: with the adversarial term, weight {', '.join(f'{w:g}' for w in weights)})")
    print("PSNR: the photograph's (its tiles together); patch PSNR: mean of the tiles' PSNRs; SSIM: mean")
    print(f"{'method':16s} {'PSNR (dB)':>10s} {'patch PSNR':>11s} {'SSIM':>8s} {'PSNR gain':>10s} {'SSIM gain':>10s}"
          "  train")
    for name, psnr, patch_psnr, ssim, psnr_gain, ssim_gain, seconds in rows:
        print(f"{name:16s} {psnr:10.3f} {patch_psnr:11.3f} {ssim:8.4f} {psnr_gain:+10.3f} {ssim_gain:+10.4f}  "
              f"{seconds}")
    print(f"\npictures ({', '.join(pictures)}; left to right in comparison.png): {os.path.abspath(args.out)}")


if __name__ == "__main__":
    main()
