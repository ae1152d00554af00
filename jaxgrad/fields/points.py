"""Curvature of a point: symmetric eigenvalues (closed form for d <= 3) and the kind of point.

``jnp.linalg.eigvalsh`` on a batch of small matrices pays for a general iterative
solver per matrix; for ``d = 2`` and ``d = 3`` the closed forms here are exact
formulas of a few flops, fuse into one kernel, and are what fields use.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["KINDS", "eigvalsh", "kind_code", "classify"]

KINDS = ("minimum", "maximum", "saddle", "degenerate")


def _eig2(H: jax.Array) -> jax.Array:
    a, b, d = H[..., 0, 0], (H[..., 0, 1] + H[..., 1, 0]) / 2, H[..., 1, 1]
    mean = (a + d) / 2
    radius = jnp.hypot((a - d) / 2, b)
    return jnp.stack([mean - radius, mean + radius], axis=-1)


def _eig3(H: jax.Array) -> jax.Array:
    """Smith's trigonometric solution of the characteristic cubic (Comm. ACM 4(4), 1961)."""
    S = (H + jnp.swapaxes(H, -1, -2)) / 2
    a00, a11, a22 = S[..., 0, 0], S[..., 1, 1], S[..., 2, 2]
    a01, a02, a12 = S[..., 0, 1], S[..., 0, 2], S[..., 1, 2]
    q = (a00 + a11 + a22) / 3
    b00, b11, b22 = a00 - q, a11 - q, a22 - q
    p2 = (b00**2 + b11**2 + b22**2 + 2 * (a01**2 + a02**2 + a12**2)) / 6
    p = jnp.sqrt(p2)
    safe_p = jnp.where(p > 0, p, 1.0)
    det_b = (
        b00 * (b11 * b22 - a12 * a12) - a01 * (a01 * b22 - a12 * a02) + a02 * (a01 * a12 - b11 * a02)
    ) / safe_p**3
    r = jnp.clip(det_b / 2, -1.0, 1.0)
    phi = jnp.arccos(r) / 3
    largest = q + 2 * p * jnp.cos(phi)
    smallest = q + 2 * p * jnp.cos(phi + 2 * math.pi / 3)
    middle = 3 * q - largest - smallest
    return jnp.stack([smallest, middle, largest], axis=-1)


def eigvalsh(H: jax.Array) -> jax.Array:
    """Eigenvalues of symmetric matrices in ascending order, shape ``H.shape[:-1]``.

    Closed forms for ``d = 1, 2, 3`` (batched over leading axes); ``jnp.linalg.eigvalsh``
    otherwise. The input is symmetrised first.

    Example:
      >>> eigvalsh(jnp.array([[2.0, 3.0], [3.0, 2.0]]))
      Array([-1.,  5.], dtype=float32)
    """
    d = H.shape[-1]
    if H.ndim < 2 or H.shape[-2:] != (d, d):
        raise ValueError(f"eigvalsh needs square matrices, got shape {H.shape}")
    if d == 1:
        return H[..., 0]
    if d == 2:
        return _eig2(H)
    if d == 3:
        return _eig3(H)
    return jnp.linalg.eigvalsh((H + jnp.swapaxes(H, -1, -2)) / 2)


def default_rtol(dtype) -> float:
    """Eigenvalues within ``sqrt(eps) * max|λ|`` of zero count as zero."""
    return float(np.sqrt(jnp.finfo(dtype).eps))


def kind_code(eigenvalues: jax.Array, rtol: float | None = None) -> jax.Array:
    """The kind of point as an integer index into :data:`KINDS` (jittable, batched).

    Both signs present -> saddle (2), whatever else; else an eigenvalue within
    ``rtol * max|λ|`` of zero -> degenerate (3); else all positive -> minimum (0),
    all negative -> maximum (1).
    """
    lam = jnp.asarray(eigenvalues)
    rtol = default_rtol(lam.dtype) if rtol is None else rtol
    # Only the extremes matter: saddle iff hi > tol and lo < -tol; else minimum iff lo > tol,
    # maximum iff hi < -tol, degenerate otherwise (an eigenvalue within tol of zero, or NaN).
    # Elementwise over the few columns rather than reductions over the last axis: XLA:CPU
    # lowers those to a separate reduction kernel (measured 2x slower for a kind field).
    if lam.shape[-1] <= 8:
        cols = [lam[..., i] for i in range(lam.shape[-1])]
        lo, hi = functools.reduce(jnp.minimum, cols), functools.reduce(jnp.maximum, cols)
    else:
        lo, hi = jnp.min(lam, axis=-1), jnp.max(lam, axis=-1)
    tol = rtol * jnp.maximum(-lo, hi)  # max |λ|
    saddle = (hi > tol) & (lo < -tol)
    return jnp.where(saddle, 2, jnp.where(lo > tol, 0, jnp.where(hi < -tol, 1, 3))).astype(jnp.int32)


def classify(H, rtol: float | None = None) -> str:
    """The kind of point a Hessian describes: minimum, maximum, saddle or degenerate.

    Args:
      H: a symmetric ``(n, n)`` Hessian.
      rtol: eigenvalues with ``|λ| <= rtol * max|λ|`` count as zero; default
        ``sqrt(eps)`` of ``H``'s dtype.

    Example:
      >>> classify(jnp.array([[2.0, 3.0], [3.0, 2.0]]))
      'saddle'
    """
    H = jnp.asarray(H)
    if H.ndim != 2 or H.shape[0] != H.shape[1]:
        raise ValueError(f"classify needs one square Hessian, got shape {H.shape}")
    return KINDS[int(kind_code(eigvalsh(H), rtol))]
