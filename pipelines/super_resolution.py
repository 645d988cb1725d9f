"""Super-resolution pipelines: a low-resolution photograph patch -> the patch at 2x (the ``super_resolution`` task).

Data: the local TFDS builder ``photos/x2`` (``datasets/photos.py``): 32x32
RGB patches of scikit-learn's sample photograph ``china.jpg`` for training
and of ``flower.jpg``, held out, for evaluation, each with its antialiased
bicubic downsampling to 16x16. The Transform
(``components/transforms/super_resolution.py``) scales both to [0, 1]; SRGAN
(``models/srgan.py``) serves ``upscale`` (a float image of any size in, the
image at 2x out). The SuperResolutionEvaluator blesses only a model that
beats bicubic upsampling on the held-out photograph (``psnr_gain``, the PSNR
over bicubic's, at least 0.01 dB), with no regression of PSNR against the
blessed baseline.

Measured (``benchmarks/super_resolution.py``, the family's defaults: 10 epochs of content loss, then 5
with the adversarial term at weight 1e-5): held-out PSNR 33.60 dB vs bicubic 33.55 (blessed, barely);
the same generator on the content loss alone 33.76 dB; adversarial weight 1e-4: 33.06, 1e-3: 31.26.
"""

import os

from pipelines.config import DatasetConfig, PipelineConfig, Threshold

PHOTOS_SRGAN = PipelineConfig(
    name="photos_srgan",
    description="sample photographs (TFDS 'photos/x2', held-out flower.jpg) -> SRGAN 2x upscale, "
                "blessed above bicubic (PSNR gain > 0)",
    dataset=DatasetConfig("photos/x2", splits={"train": "train", "eval": "test"}),
    preprocessing_fn="components.transforms.super_resolution.preprocessing_fn",
    transform_config={"high_res_key": "high_res", "low_res_key": "low_res", "high_res_shape": [32, 32, 3],
                      "low_res_shape": [16, 16, 3], "max_value": 255},
    model="srgan",
    hparams={"factor": 2},
    label_key=None,
    thresholds=(Threshold("psnr_gain", lower_bound=0.01, no_regression=False),
                Threshold("psnr")),  # no regression against the blessed baseline
    schema_path=os.path.join(os.path.dirname(__file__), "schemas", "photos", "schema.pbtxt"),
    serving_model_name="photos_srgan",
)
