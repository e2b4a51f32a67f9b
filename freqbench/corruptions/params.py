"""The corruption catalogue: names, families, and the severity parameters of CIFAR-10-C and of
ImageNet-C.

Every value comes from Hendrycks' CIFAR generator (Hendrycks & Dietterich, ICLR 2019),
``ImageNet-C/create_c/make_cifar_c.py`` in github.com/hendrycks/robustness, the script that
made the published CIFAR-10-C files; DESIGN.md section 6 lists the same numbers. Parameters
measured in pixels (blur radii and sigmas, glass-blur delta, elastic displacements, snow's
motion blur) were made for 32x32 images and are kept as they are for other sizes.
"""

from __future__ import annotations

CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)

FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}

SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

# The reference writes elastic_transform's parameters as fractions of its image size.
_IMSIZE = 32

SEVERITY_PARAMS: dict[str, tuple[float | tuple[float, ...], ...]] = {
    # sigma of additive N(0, sigma^2) noise
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    # photons per unit intensity: Poisson(x * c) / c
    "shot_noise": (500, 250, 100, 75, 50),
    # salt-and-pepper amount (share of values set to 0 or 1)
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    # (disk radius, alias blur sigma)
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
    # (gaussian sigma, max delta, iterations)
    "glass_blur": ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)),
    # (radius, sigma) of ImageMagick's motion blur
    "motion_blur": ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)),
    # zoom factors are np.arange(1, c, 0.01), exactly as the reference writes them
    "zoom_blur": (1.06, 1.11, 1.16, 1.21, 1.26),
    # (noise mean, noise std, zoom, threshold, blur radius, blur sigma, image weight)
    "snow": (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95),
        (0.1, 0.2, 1, 0.5, 10, 4, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8),
    ),
    # (image weight, frost weight)
    "frost": ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45)),
    # (plasma strength, wibble decay)
    "fog": ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75)),
    # shift of the HSV value channel
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    # factor on the deviation from the per-channel mean
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    # (displacement alpha, displacement smoothing sigma, affine jitter), all in pixels
    "elastic_transform": (
        (_IMSIZE * 0, _IMSIZE * 0, _IMSIZE * 0.08),
        (_IMSIZE * 0.05, _IMSIZE * 0.2, _IMSIZE * 0.07),
        (_IMSIZE * 0.08, _IMSIZE * 0.06, _IMSIZE * 0.06),
        (_IMSIZE * 0.1, _IMSIZE * 0.04, _IMSIZE * 0.05),
        (_IMSIZE * 0.1, _IMSIZE * 0.03, _IMSIZE * 0.03),
    ),
    # share of the side length kept by the down-sampling
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
    # JPEG quality
    "jpeg_compression": (80, 65, 58, 50, 40),
}

#: ImageNet-C's parameters: Hendrycks' ImageNet generator, ``ImageNet-C/create_c/
#: make_imagenet_c.py`` in github.com/hendrycks/robustness, the script that made the released
#: ImageNet-C from Resize(256) + CenterCrop(224) of each validation image, for 224 x 224
#: images. Where a parameter's form differs from the CIFAR table it is said.
IMAGENET_C_PARAMS: dict[str, tuple[float | tuple[float, ...], ...]] = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "shot_noise": (60, 25, 12, 5, 3),
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),
    "glass_blur": ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)),
    "motion_blur": ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)),
    # (stop, step) of the zoom factors np.arange(1, stop, step)
    "zoom_blur": ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03)),
    "snow": (
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
        (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
        (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
        (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
    ),
    "frost": ((1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)),
    "fog": ((1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)),
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),
    # (alpha, sigma, affine jitter) in pixels; the reference writes 244 where it meant 224
    # ("ultimately nothing is incorrect", its comment says): kept, the release was made so.
    "elastic_transform": (
        (244 * 2, 244 * 0.7, 244 * 0.1),
        (244 * 2, 244 * 0.08, 244 * 0.2),
        (244 * 0.05, 244 * 0.01, 244 * 0.02),
        (244 * 0.07, 244 * 0.01, 244 * 0.02),
        (244 * 0.12, 244 * 0.01, 244 * 0.02),
    ),
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),
    "jpeg_compression": (25, 18, 15, 10, 7),
}

#: AlexNet's ImageNet-C error per corruption, averaged over the five severities: what the mean
#: Corruption Error (mCE) divides by (Hendrycks & Dietterich, ICLR 2019). The values of
#: ``ALEXNET_ERR`` in google-research/augmix ``imagenet.py`` ("Raw AlexNet errors taken from
#: https://github.com/hendrycks/robustness").
ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}
