"""Metrics of generative models (numpy, scipy, scikit-learn; no TensorFlow, no
TFX), used by the GenerativeEvaluator component; thresholds and the blessing
decision are :mod:`components.evaluator.blessing`'s.

* :func:`negative_elbo`: a VAE's held-out ``-ELBO`` in nats per image;
  :func:`bernoulli_nll` the reconstruction term of any decoder.
* :func:`bits_per_dim`: nats per image in bits per dimension (a flow's
  unit); :func:`binomial_negative_elbo` a VAE's bound re-read as a proper
  likelihood of the 256 pixel levels, in the same unit.
* :func:`frechet_distance`: Frechet distance between two Gaussian fits of
  feature sets (the FID recipe, on the reference classifier's
  penultimate features instead of Inception's).
* :func:`class_consistency`, :func:`mean_confidence`: how a reference
  classifier labels generated images.
* :func:`corrupt`, :func:`roc_auc`: anomaly-score separation of clean vs
  corrupted images.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.linalg
from sklearn.metrics import roc_auc_score

CORRUPTIONS = ("gaussian", "salt_pepper", "occlusion")
# The corruption of the autoencoders' clean-vs-corrupted ROC AUC unless configured.
DEFAULT_CORRUPTION: Mapping[str, Any] = MappingProxyType({"kind": "salt_pepper", "strength": 0.2})


def bernoulli_nll(images: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """``-log p(x | z)`` per image (nats) for Bernoulli pixel means ``probabilities``.

    >>> bernoulli_nll(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]])).round(4).tolist()
    [1.3863]
    """
    p = np.clip(probabilities.reshape(len(images), -1).astype(np.float64), 1e-7, 1 - 1e-7)
    x = images.reshape(len(images), -1).astype(np.float64)
    return -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=1)


_bernoulli_nll = bernoulli_nll


def bits_per_dim(nats: Any, dimensions: int) -> Any:
    """A negative log-likelihood in nats per image as bits per dimension.

    >>> bits_per_dim(64 * np.log(256), 64)  # uniform over 256 levels: 8 bits
    8.0
    """
    return nats / (dimensions * np.log(2.0))


def binomial_negative_elbo(images: np.ndarray, z_mean: np.ndarray, z_log_var: np.ndarray,
                           decode: Callable[[np.ndarray], np.ndarray], levels: int = 256,
                           seed: int = 0) -> dict[str, float]:
    """A Bernoulli VAE's ``-ELBO`` as a bound on a proper likelihood of pixel counts
    ``k`` in ``0..levels-1``, nats per image: the decoder's means ``p`` read as
    ``Binomial(levels - 1, p)`` per pixel. (The Bernoulli cross-entropy of
    intensities ``k / (levels - 1)`` is not a normalised likelihood of the
    levels; the binomial's log-likelihood is ``(levels - 1)`` times it plus
    ``log C(levels - 1, k)``, so the VAE's training maximised the same ``p``.)
    Same posterior draw as :func:`negative_elbo` for the same ``seed``.

    >>> x = np.array([[0.0, 1.0]])  # k = 0 and 1 of 2 levels: Binomial(1, p) is Bernoulli
    >>> m = binomial_negative_elbo(x, np.zeros((1, 1)), np.zeros((1, 1)), lambda z: np.full((1, 2), 0.5), levels=2)
    >>> round(m["neg_elbo"], 4) == round(2 * np.log(2), 4)
    True
    """
    from scipy.special import gammaln

    rng = np.random.default_rng(seed)
    z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape)
    n = levels - 1
    counts = np.rint(images.reshape(len(images), -1).astype(np.float64) * n)
    log_choose = gammaln(n + 1) - gammaln(counts + 1) - gammaln(n - counts + 1)
    nll = n * bernoulli_nll(counts / n, decode(z.astype(np.float32))) - log_choose.sum(axis=1)
    kl = -0.5 * np.sum(1 + z_log_var - np.square(z_mean) - np.exp(z_log_var), axis=1)
    return {"neg_elbo": float(np.mean(nll + kl)), "reconstruction_nll": float(np.mean(nll)),
            "kl": float(np.mean(kl))}


def negative_elbo(images: np.ndarray, z_mean: np.ndarray, z_log_var: np.ndarray,
                  decode: Callable[[np.ndarray], np.ndarray], seed: int = 0) -> dict[str, float]:
    """Mean ``-ELBO = -log p(x|z) + KL(q(z|x) || N(0, I))`` in nats per image,
    with one reparameterised posterior draw per image (Bernoulli decoder).

    Example:

    >>> x = np.full((2, 4), 0.5)
    >>> m = negative_elbo(x, np.zeros((2, 3)), np.zeros((2, 3)), lambda z: np.full((len(z), 4), 0.5))
    >>> round(m["neg_elbo"], 4) == round(4 * np.log(2), 4), m["kl"]
    (True, 0.0)
    """
    rng = np.random.default_rng(seed)
    z = z_mean + np.exp(0.5 * z_log_var) * rng.standard_normal(z_mean.shape)
    nll = _bernoulli_nll(images, decode(z.astype(np.float32)))
    kl = -0.5 * np.sum(1 + z_log_var - np.square(z_mean) - np.exp(z_log_var), axis=1)
    return {"neg_elbo": float(np.mean(nll + kl)), "reconstruction_nll": float(np.mean(nll)),
            "kl": float(np.mean(kl))}


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """``|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` of two feature sets.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(2000, 3))
    >>> frechet_distance(a, a) < 1e-6, round(frechet_distance(a, a + 2.0), 1)
    (True, 12.0)
    """
    if features_a.ndim != 2 or features_a.shape[1] != features_b.shape[1]:
        raise ValueError(f"feature sets must be (n, d) with the same d; got {features_a.shape} and "
                         f"{features_b.shape}")
    mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a = np.atleast_2d(np.cov(features_a, rowvar=False))
    cov_b = np.atleast_2d(np.cov(features_b, rowvar=False))
    covmean, _ = scipy.linalg.sqrtm(cov_a @ cov_b, disp=False)
    if not np.isfinite(covmean).all():  # singular product: regularise, as the FID reference does
        offset = np.eye(len(cov_a)) * 1e-6
        covmean = scipy.linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    distance = np.sum(np.square(mu_a - mu_b)) + np.trace(cov_a + cov_b - 2 * np.real(covmean))
    return float(max(distance, 0.0))


def class_consistency(probabilities: np.ndarray, requested: np.ndarray) -> float:
    """Share of samples whose most probable class is the requested one."""
    return float(np.mean(np.argmax(probabilities, axis=1) == np.asarray(requested).reshape(-1)))


def mean_confidence(probabilities: np.ndarray) -> float:
    """Mean probability of the top class."""
    return float(np.mean(np.max(probabilities, axis=1)))


def corrupt(images: np.ndarray, kind: str = DEFAULT_CORRUPTION["kind"],
            strength: float = DEFAULT_CORRUPTION["strength"], seed: int = 0) -> np.ndarray:
    """Corrupted copies of images in [0, 1] (shape ``(n, h, w, c)``).

    ``gaussian``: additive noise of std ``strength``; ``salt_pepper``: a
    ``strength`` share of pixels set to 0 or 1; ``occlusion``: a random square
    of side ``strength * width`` set to 1.
    """
    rng = np.random.default_rng(seed)
    images = np.asarray(images, dtype=np.float32)
    if kind == "gaussian":
        out = images + strength * rng.standard_normal(images.shape)
    elif kind == "salt_pepper":
        hit = rng.random(images.shape) < strength
        out = np.where(hit, rng.integers(0, 2, images.shape), images)
    elif kind == "occlusion":
        out = images.copy()
        side = max(1, round(strength * images.shape[2]))
        for image in out:
            top, left = rng.integers(0, images.shape[1] - side + 1), rng.integers(0, images.shape[2] - side + 1)
            image[top:top + side, left:left + side] = 1.0
    else:
        raise ValueError(f"unknown corruption {kind!r}; choices: {', '.join(CORRUPTIONS)}")
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def roc_auc(clean_scores: np.ndarray, corrupted_scores: np.ndarray) -> float:
    """ROC AUC of the anomaly score for "corrupted" (positive) vs "clean".

    Example:

    >>> roc_auc(np.array([0.1, 0.2]), np.array([0.3, 0.15]))
    0.75
    """
    labels = np.concatenate([np.zeros(len(clean_scores)), np.ones(len(corrupted_scores))])
    return float(roc_auc_score(labels, np.concatenate([clean_scores, corrupted_scores])))
