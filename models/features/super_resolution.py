"""Super-resolution data: what ``components/transforms/super_resolution.py`` writes and SRGAN reads.

Each example is a high-resolution patch (:data:`HIGH_RES`) and its
low-resolution version (:data:`LOW_RES`, bicubic downsampling of it by the
dataset's factor), both raw integer RGB pixels. The Transform scales both by
:data:`MAX_VALUE` to float32 in [0, 1] and reshapes them to
``(height, width, channels)`` under the same names (``high_res_shape`` and
``low_res_shape`` in its ``custom_config``). There is no label.
"""

from __future__ import annotations

HIGH_RES = "high_res"  # raw uint8 RGB patch in; float32 (H, W, 3) in [0, 1] out: the target
LOW_RES = "low_res"    # raw uint8 RGB, bicubic-downsampled patch in; float32 (H/f, W/f, 3) in [0, 1] out
MAX_VALUE = 255        # raw pixel maximum (the Transform divides by it)
UPSCALED = "image"     # output of the served ``upscale`` signature: the image at factor x, in [0, 1]
