"""The coherent model's time indices: their priors (random walks with drift; stationary AR(1)s conditioned on
summing to zero) and the partially non-centred coordinates NUTS samples them in."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import scipy.linalg
from scipy.optimize import minimize

Array = jax.Array


def ar1_correlation(phi: np.ndarray, n_years: int) -> np.ndarray:
    """Covariance (component, T, T) of a stationary AR(1) with unit innovation variance:
    phi^|i-j| / (1 - phi^2). phi: (component,)."""
    phi = np.asarray(phi, float)
    lags = np.abs(np.subtract.outer(np.arange(n_years), np.arange(n_years)))
    return phi[:, None, None] ** lags / (1 - phi[:, None, None] ** 2)


def ar1_sum_variance(phi: Array, tau: Array, n_years: int) -> Array:
    """Var(k_1 + ... + k_T) of a stationary AR(1) with coefficient phi and innovation sd tau (any shape)."""
    lags = jnp.arange(1, n_years)
    powers = jnp.cumprod(jnp.broadcast_to(phi[..., None], (*phi.shape, n_years - 1)), axis=-1)
    return tau**2 / (1 - phi**2) * (n_years + 2 * ((n_years - lags) * powers).sum(-1))


def random_walk_log_density(k: Array, drift: Array, sigma: Array, nu: float | None) -> Array:
    """log density of the increments of k (component, year) under random walks with drift (component,)
    (Student-t(nu) innovations of scale sigma (component,), or normal if nu is None). The level is free:
    it is carried by a."""
    steps = jnp.diff(k, axis=-1)
    if nu is None:
        return dist.Normal(drift[:, None], sigma[:, None]).log_prob(steps).sum()
    return dist.StudentT(nu, drift[:, None], sigma[:, None]).log_prob(steps).sum()


def ar1_centred_log_density(k: Array, phi: Array, tau: Array) -> Array:
    """log density of k (component, year) under stationary AR(1)s around 0 (phi, tau (component,))
    conditioned on sum_t k = 0: the path's Gaussian density divided by that of its sum at zero (so phi and
    tau get their proper likelihood although k is constrained)."""
    first = dist.Normal(0.0, tau / jnp.sqrt(1 - phi**2)).log_prob(k[:, 0])
    rest = dist.Normal(phi[:, None] * k[:, :-1], tau[:, None]).log_prob(k[:, 1:]).sum(-1)
    sum_at_zero = dist.Normal(0.0, jnp.sqrt(ar1_sum_variance(phi, tau, k.shape[-1]))).log_prob(0.0)
    return (first + rest - sum_at_zero).sum()


class IndexCoordinates(NamedTuple):
    """Partially non-centred coordinates of K time indices of length T (Papaspiliopoulos, Roberts &
    Skold 2007), built from the reference fit; every array has a leading component axis.

    In the eigenbasis eta where the prior precision (at unit scale) is the identity and the data
    precision is diagonal (gamma_j), each coordinate is
        eta_j = w_j m_j + (1 - w_j) eta_hat_j + (s / s_ref)^w_j sd_j xi_j,   k = vectors @ eta,
    with w_j = 1 / (1 + s_ref^2 gamma_j) the prior's share of the precision, sd_j the conditional posterior
    sd at s_ref, eta_hat the reference, m_j = location * trend_j the prior mean (drift for a random walk,
    0 for the AR(1)) and s the index's innovation scale. Coordinates the data pin down (w ~ 0) are
    centred - k does not move when s or the drift do - and those the prior decides (w ~ 1) are
    non-centred, so NUTS sees neither funnels nor the long ridges of full non-centring.
    """

    vectors: np.ndarray  # (K, T, T-1): eta -> k (sum-zero)
    weight: np.ndarray  # (K, T-1)
    sd: np.ndarray  # (K, T-1)
    centre: np.ndarray  # (K, T-1)
    trend: np.ndarray  # (K, T-1)
    scale: np.ndarray  # (K,) s_ref


def sum_zero_basis(n_years: int) -> np.ndarray:
    """Orthonormal basis (T, T-1) of the vectors that sum to zero."""
    return np.linalg.qr(np.ones((n_years, 1)), mode="complete")[0][:, 1:]


def index_eigenbasis(
    precision_data: np.ndarray, precision_prior: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generalised eigenbasis of one index on the sum-zero subspace.

    precision_data: (T,) Fisher information of k(t); precision_prior: (T-1, T-1) prior precision at unit
    scale in `sum_zero_basis` coordinates. Returns (to_k (T, T-1), to_eta (T-1, T), gamma (T-1,)) with
    k = to_k @ eta, eta = to_eta @ k, prior precision of eta = I and data precision diag(gamma).
    """
    basis = sum_zero_basis(precision_data.shape[0])
    data = basis.T @ (precision_data[:, None] * basis)
    gamma, vectors = scipy.linalg.eigh(data, precision_prior)
    return basis @ vectors, vectors.T @ precision_prior @ basis.T, gamma


def _index_parts(
    k: np.ndarray, info: np.ndarray, phi: np.ndarray | None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per component: (to_k, eta_hat, gamma, trend) of random walks (phi None) or AR(1)s."""
    n_years = k.shape[1]
    basis = sum_zero_basis(n_years)
    out = []
    for i in range(k.shape[0]):
        if phi is None:
            steps = np.diff(np.eye(n_years), axis=0) @ basis
            prior = steps.T @ steps
        else:
            prior = basis.T @ np.linalg.inv(ar1_correlation(phi[i : i + 1], n_years)[0]) @ basis
        to_k, to_eta, gamma = index_eigenbasis(info[i], prior)
        trend = to_eta @ (np.arange(n_years) - (n_years - 1) / 2) if phi is None else np.zeros(n_years - 1)
        out.append((to_k, to_eta @ k[i], gamma, trend))
    return out


def empirical_bayes_scales(
    k: np.ndarray, info: np.ndarray, phi: np.ndarray | None, drift: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Innovation scale (and drift, for random walks with `drift`) of each index from its noisy reference
    path k (K, T) with Fisher information info (K, T): maximise the marginal likelihood
    eta_hat_j ~ N(location trend_j, s^2 + 1 / gamma_j). Returns (location, scale), each (K,); location is
    0 for AR(1)s (phi (K,); None for random walks) and for random walks without drift."""
    with_location = phi is None and drift
    locations, scales = [], []
    for i, (_, eta_hat, gamma, trend) in enumerate(_index_parts(k, info, phi)):

        def negative_log_marginal(x: np.ndarray, eta_hat=eta_hat, gamma=gamma, trend=trend) -> float:
            location = x[0] if with_location else 0.0
            variance = np.exp(2 * x[-1]) + 1 / gamma
            return 0.5 * float(np.sum(np.log(variance) + (eta_hat - location * trend) ** 2 / variance))

        spread = np.log(float(np.std(np.diff(k[i]))) + 1e-6)
        start = np.array([0.0, spread] if with_location else [spread])
        result = minimize(negative_log_marginal, start, method="Nelder-Mead")
        locations.append(result.x[0] if with_location else 0.0)
        scales.append(float(np.exp(result.x[-1])))
    return np.asarray(locations), np.asarray(scales)


def index_coordinates(
    k: np.ndarray, info: np.ndarray, scale: np.ndarray, phi: np.ndarray | None
) -> IndexCoordinates:
    """`IndexCoordinates` of reference indices k (K, T) with Fisher information info (K, T) per year,
    reference scales (K,), as random walks (phi None) or AR(1)s with coefficients phi (K,)."""
    parts = _index_parts(k, info, phi)
    gamma = np.asarray([p[2] for p in parts])
    weight = 1 / (1 + scale[:, None] ** 2 * gamma)
    sd = 1 / np.sqrt(1 / scale[:, None] ** 2 + gamma)
    return IndexCoordinates(
        vectors=np.asarray([p[0] for p in parts]),
        weight=weight,
        sd=sd,
        centre=np.asarray([p[1] for p in parts]),
        trend=np.asarray([p[3] for p in parts]),
        scale=np.asarray(scale, float),
    )


def index_from_coordinates(
    xi: Array, location: Array, scale: Array, coords: IndexCoordinates
) -> tuple[Array, Array]:
    """Indices k (K, T) from standardised coordinates xi (K, T-1), the drift (or 0) and innovation scale
    (K,) (`IndexCoordinates`); also the log-Jacobian of xi -> k."""
    power = coords.weight * jnp.log(scale / coords.scale)[:, None]
    eta = (
        coords.weight * location[:, None] * coords.trend
        + (1 - coords.weight) * coords.centre
        + jnp.exp(power) * coords.sd * xi
    )
    return jnp.einsum("ktj,kj->kt", coords.vectors, eta), (coords.weight * jnp.log(scale)[:, None]).sum()
