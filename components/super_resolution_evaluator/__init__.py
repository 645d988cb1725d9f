"""SuperResolutionEvaluator: PSNR and SSIM of a super-resolution model's served ``upscale``, beside bicubic's."""
