"""Age schedules of the migration models: cubic B-splines in age, and schedules linear in coefficients that
obey one constraint, sampled in whitened coordinates (`ScheduleDesign`).

Knots are dense at ages 0-3 and 14-33, where migration changes fast. The gross schedules pool the sexes: a
common schedule plus a smoother sex difference (`sex_pooled_matrix`).
"""

from collections.abc import Sequence
from typing import NamedTuple

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints
from scipy.interpolate import BSpline

from stochpop.conventions import SEXES

Array = jax.Array

SCHEDULE_KNOTS = (0, 1, 3, 6, 10, 14, 17, 20, 23, 26, 29, 33, 38, 44, 50, 60, 70, 85)
"""Interior knots of the schedule splines (ages); `schedule_knots` adds the top age."""


def schedule_knots(max_age: int, base: Sequence[int] = SCHEDULE_KNOTS, min_gap: int = 3) -> np.ndarray:
    """Knots (ages) for ages 0..max_age: those of `base` at least `min_gap` below max_age, then max_age."""
    return np.asarray([*(k for k in base if k <= max_age - min_gap), max_age], dtype=float)


def age_basis(ages: np.ndarray, knots: np.ndarray, degree: int = 3) -> np.ndarray:
    """B-spline design matrix (age, basis) on `knots` (the first and last are the boundaries).

    Rows sum to one, so adding c to every coefficient adds c to every value.
    """
    t = np.r_[[knots[0]] * degree, knots, [knots[-1]] * degree].astype(float)
    return BSpline.design_matrix(np.asarray(ages, dtype=float), t, degree).toarray()


@jax.jit
def spline_values(coef: Array, basis: Array) -> Array:
    """Coefficients (..., 2, K) -> schedule (..., 2, A) on `basis` (A, K)."""
    return coef @ basis.T


class ScheduleDesign(NamedTuple):
    """A schedule g (2, A) = (matrix @ beta) by sex and age, linear in coefficients beta (P,) that obey one
    linear constraint c . beta = 0, sampled in whitened coordinates theta:
    beta = null @ (centre + whiten @ theta).

    matrix (2A, P): sex-stacked values per coefficient (`sex_pooled_matrix`); null (P, P - 1) orthonormal,
    spanning c . beta = 0; centre (P - 1,) crude values; whiten (P - 1, P - 1): the inverse Cholesky factor
    of the approximate posterior precision (a fixed linear reparameterisation, like Stan's QR trick for
    regressions) times `spread_rotation`, so theta's posterior is close to a mildly anisotropic normal.
    """

    matrix: np.ndarray
    null: np.ndarray
    centre: np.ndarray
    whiten: np.ndarray


def sex_pooled_matrix(basis: np.ndarray, difference_basis: np.ndarray) -> np.ndarray:
    """(2A, K + K_d): g(female) = B c + B_d d / 2, g(male) = B c - B_d d / 2 - a common age schedule and a
    smoother sex difference (pooling across sexes, as the emigration findings recommend)."""
    half = 0.5 * difference_basis
    return np.block([[basis, half], [basis, -half]])


def schedule_design(
    matrix: np.ndarray, weights: np.ndarray, crude: np.ndarray, prior_sd: float
) -> ScheduleDesign:
    """The `ScheduleDesign` of a log-share or log-hazard schedule fitted to counts.

    weights (2, A): events by cell (the Fisher information of a log rate is the expected count); the
    constraint sum_{s,a} weights g = 0 makes the schedule orthogonal to the level it multiplies.
    crude (2, A): rough values of g (e.g. log counts or log rates), fitted by weighted least squares and
    shifted by a constant onto the constraint (the level absorbs the shift) to give the centre.
    """
    w = np.asarray(weights, dtype=float).ravel() + 0.5
    root = np.sqrt(w)
    beta = np.linalg.lstsq(matrix * root[:, None], np.asarray(crude).ravel() * root, rcond=None)[0]
    c = matrix.T @ w
    shift = np.linalg.lstsq(matrix, np.ones(matrix.shape[0]), rcond=None)[0]  # coefficients of g = 1
    beta = beta - (c @ beta) / (c @ shift) * shift  # meet the constraint by a constant shift of g
    _, _, vt = np.linalg.svd(c[None, :])
    null = vt[1:].T
    precision = null.T @ (matrix.T * w) @ matrix @ null + np.eye(null.shape[1]) / prior_sd**2
    whiten = np.linalg.inv(np.linalg.cholesky(precision)).T
    return ScheduleDesign(matrix, null, null.T @ beta, whiten @ spread_rotation(null.shape[1]))


def spread_rotation(n: int, ratio: float = 2.0) -> np.ndarray:
    """(n, n) = Q diag(s) Q^T, Q a fixed random rotation (seed 0), s geometric from 1 to `ratio`.

    Applied after whitening it gives the sampled coordinates a mildly anisotropic posterior (covariance
    Q diag(s^-2) Q^T: condition number ratio^2, equal marginal variances, so NUTS's diagonal mass matrix
    keeps it). On an exactly isotropic Gaussian every NUTS trajectory turns after half an orbit in all
    directions at once, so squared deviations mix slowly and the folded R-hat of ~50 such coordinates
    exceeds 1.01 in about half the seeds; spread orbit frequencies remove that.
    """
    q, r = np.linalg.qr(np.random.default_rng(0).standard_normal((n, n)))
    q = q * np.sign(np.diag(r))
    return (q * np.geomspace(1.0, ratio, n)) @ q.T


def schedule_coefficients(name: str, design: ScheduleDesign, prior_sd: float) -> Array:
    """Coefficients (P,) of a constrained schedule with prior Normal(0, prior_sd) on the constraint plane
    (orthonormal coordinates u), sampled as whitened `name`_z (`ScheduleDesign`); records `name`."""
    n = design.centre.shape[0]
    theta = numpyro.sample(f"{name}_z", dist.ImproperUniform(constraints.real_vector, (), (n,)))
    u = design.centre + design.whiten @ theta
    numpyro.factor(f"{name}_prior", dist.Normal(0.0, prior_sd).log_prob(u).sum())
    return numpyro.deterministic(name, design.null @ u)


@jax.jit
def schedule_values(coef: Array, matrix: Array) -> Array:
    """Coefficients (..., P) -> schedule (..., 2, A) through a `ScheduleDesign` matrix (2A, P)."""
    values = coef @ matrix.T
    return values.reshape((*values.shape[:-1], len(SEXES), -1))


@jax.jit
def log_shares(logits: Array) -> Array:
    """Log of the softmax over (sex, age) of logits (..., 2, A): log shares summing (exp) to one."""
    flat = logits.reshape((*logits.shape[:-2], -1))
    return jax.nn.log_softmax(flat, axis=-1).reshape(logits.shape)
