"""Mortality components: the coherent (product-ratio) Bayesian Lee-Carter and the classic Lee-Carter.

`CoherentLeeCarter` is the product-ratio model of Hyndman, Booth & Yasmeen (2013) that SSB uses
(reference ch. 6.1), made Bayesian and fitted to death counts. With m_s(x, t) the central death rate
(deaths per person-year, age x in completed years, year t, sex s = F, M), D deaths and E exposures
(person-years) of ages 0..100:

    p = sqrt(m_M m_F),  r = sqrt(m_M / m_F)                   (so m_F = p / r, m_M = p r)
    log p(x,t) = a_p(x) + sum_i b_pi(x) k_pi(t)               i = 1..n_product (default 2, as SSB)
    log r(x,t) = a_r(x) + sum_j b_rj(x) k_rj(t)               j = 1..n_ratio   (default 1)
    D_s(x,t) ~ NegBin(mean E_s m_s, variance mean + dispersion mean^2)       (or Poisson)
    k_pi(t) = k_pi(t-1) + drift_i + sigma_i e_i(t)            random walk with drift, e ~ t(5) or N(0,1)
    k_rj(t) = phi_j k_rj(t-1) + tau_j u_j(t)                  stationary AR(1) around 0, |phi| < 1

The product (general level) trends; the ratio (the sex gap) reverts to its fitted-period mean exp(a_r),
so the sexes cannot diverge. Loadings b are piecewise linear in age between `LOADING_NODES` (27 nodes,
dense at young ages; a smoothed Lee-Carter as in Delwarde, Denuit & Eilers 2007), levels a are free at
every age.

Identification (exact constraints, so NUTS cannot wander along rotations, rescalings or sign flips),
with w(x) the expected deaths by age at the ML reference fit and u_l that fit's loadings in SVD form:
    sum_t k(t) = 0 for every index (the level belongs to a; the AR(1) density is conditioned on it);
    b_p1 has w-weighted mean 1 (k_p1 is the death-weighted mean log-rate index);
    every other b_i has w-weighted mean square ~1, fixed as (w u_i) . b_i = its reference value > 0;
    (w u_l) . b_i = 0 for l != i: a linearised b_i _|_ b_l, which removes rotations. As in the SVD,
    a second product index is then ~orthogonal to the trending first one, so its drift is ~0.
Weighting by deaths pins each component's scale where the data are precise.

Priors: a_p(x) ~ N(-5, 5), a_r(x) ~ N(0, 1), b_p1(x) ~ N(1, 2), other b(x) ~ N(0, 1), drift ~ N(0, 0.1),
sigma, tau ~ HalfNormal(0.1), phi ~ U(-1, 1), sqrt(dispersion) ~ HalfNormal(0.2) (`log_prior`).

Sampling (`natural_parameters`): NUTS runs on standardised coordinates - offsets from a Poisson ML
reference fit (`reference_fit`) in units of Fisher-information sds for each sex's level a_p -/+ a_r and
for b at the nodes; log / atanh scales for sigma, tau, sqrt(dispersion), phi; and partially non-centred
coordinates for the indices (`IndexCoordinates`: centred where the data pin k down, non-centred where
the prior does). All priors are put on natural values, so the posterior is exactly the model's.

Forecasts (`coherent_index_paths`, `mortality_values`): every path takes a joint posterior draw and its
own future innovations; rates above age 100 come from the Kannisto model fitted to ages 80-100
(`kannisto_rates`).

`LeeCarter` is the classic one-sex model (each sex on its own, SVD + random walk with drift), the fast
SSB-like baseline. Both components return rates (draw, year, sex, age 0..119) and e0 (draw, year, sex).
"""

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import scipy.linalg
import xarray as xr
from jax.scipy.special import gammaln
from jax.typing import ArrayLike
from numpyro.distributions import constraints
from numpyro.infer import Predictive
from scipy.optimize import minimize

from stochpop.components.contract import Drivers, values_by_year
from stochpop.components.fitting import constant_values, fit_model
from stochpop.components.randomness import Paths, path_indices, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.conventions import N_AGES, SEXES
from stochpop.data.container import CountryData
from stochpop.demography.lifetable import e0_by_sex

Array = jax.Array

FIT_MAX_AGE = 100
"""Ages 0..FIT_MAX_AGE are fitted; above it single-year counts are too sparse for age-specific terms."""
FITTED_AGES = np.arange(FIT_MAX_AGE + 1)
FORECAST_AGES = np.arange(N_AGES)
"""Ages of the forecast rates: 0..119, 119 open."""
KANNISTO_FIT_AGES = (80, FIT_MAX_AGE)
"""Ages whose rates fix the Kannisto extrapolation above FIT_MAX_AGE (`kannisto_rates`)."""
LOADING_NODES = (0, 1, 2, 3, 5, 7, 10, 13, 16, 19, 22, 25, *range(30, FIT_MAX_AGE + 1, 5))
"""Ages where the age loadings b(x) are free; b is linear in age between them (`loading_basis`)."""
DEFAULT_FIRST_YEAR = 1990
DEFAULT_NU = 5.0

SCALARS = ("drift", "sigma", "phi", "tau", "dispersion")
"""The scalar (per-component) parameters of the coherent model."""


# --------------------------------------------------------------------------------------------------
# Data


class FitWindow(NamedTuple):
    """Deaths and exposures of the fitted years and ages, arrays (year, sex, age)."""

    deaths: np.ndarray
    exposure: np.ndarray
    years: np.ndarray
    ages: np.ndarray


def fit_window(
    data: CountryData, first_year: int | None, last_year: int | None, max_age: int = FIT_MAX_AGE
) -> FitWindow:
    """Deaths (Lexis squares) and exposures (person-years) for years first..last and ages 0..max_age."""
    deaths, exposure = xr.align(data.deaths, data.exposure, join="inner")
    years = deaths["year"].values
    first = years[0] if first_year is None else first_year
    last = years[-1] if last_year is None else last_year
    if first < years[0] or last > years[-1] or last - first < 5:
        raise ValueError(
            f"{data.name}: fit years {first}-{last} not inside the data's {years[0]}-{years[-1]} "
            "(or fewer than 6 years)"
        )
    window = {"year": slice(first, last), "age": slice(0, max_age)}
    deaths = deaths.sel(window).transpose("year", "sex", "age")
    exposure = exposure.sel(window).transpose("year", "sex", "age")
    if deaths.sizes["age"] != max_age + 1:
        raise ValueError(f"{data.name}: deaths stop before age {max_age}")
    return FitWindow(
        np.asarray(deaths.values, float),
        np.asarray(exposure.values, float),
        np.asarray(deaths["year"].values),
        np.asarray(deaths["age"].values),
    )


def filled_log_rates(deaths: np.ndarray, exposure: np.ndarray) -> np.ndarray:
    """log(D / E) over the last (age) axis with empty cells (no deaths or no exposure) interpolated
    linearly in log rate between the neighbouring ages (SSB text box 6.1 fills zeros the same way)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_m = np.log(deaths / exposure)
    flat = log_m.reshape(-1, log_m.shape[-1])
    ages = np.arange(flat.shape[-1])
    for row in flat:  # a few hundred rows of ~100 ages: preparation only
        ok = np.isfinite(row)
        row[~ok] = np.interp(ages[~ok], ages[ok], row[ok])
    return flat.reshape(log_m.shape)


def loading_basis(ages: np.ndarray, nodes: Sequence[int] = LOADING_NODES) -> np.ndarray:
    """Piecewise-linear ("hat") basis (age, node): b(x) = basis @ beta interpolates linearly between the
    values beta at the `nodes` (which must include the first and last age)."""
    nodes = np.asarray(nodes, float)
    return np.stack([np.interp(ages, nodes, np.eye(nodes.size)[j]) for j in range(nodes.size)], axis=-1)


# --------------------------------------------------------------------------------------------------
# Pure transforms


def product_ratio_log_rates(a_p: Array, b_p: Array, k_p: Array, a_r: Array, b_r: Array, k_r: Array) -> Array:
    """log m (..., year, sex, age) from product and ratio terms.

    a_p, a_r: (..., age); b_p: (..., n_product, age); k_p: (..., n_product, year); likewise b_r, k_r.
    Sex order is `SEXES` (female, male): log m_F = log p - log r, log m_M = log p + log r.
    """
    log_p = a_p[..., None, :] + jnp.einsum("...ix,...it->...tx", b_p, k_p)
    log_r = a_r[..., None, :] + jnp.einsum("...jx,...jt->...tx", b_r, k_r)
    return jnp.stack([log_p - log_r, log_p + log_r], axis=-2)


def kannisto_rates(log_m: Array, fit_ages: tuple[int, int] = KANNISTO_FIT_AGES) -> Array:
    """Rates (..., 120) at ages 0..119 from log rates (..., A+1) at ages 0..A, by the Kannisto (1994) model.

    logit m(x) = alpha + beta x is fitted by least squares to the rates at `fit_ages` (inclusive) of every
    path, year and sex, and ages A+1..119 take its values; ages 0..A keep exp(log_m). The logistic keeps
    m below 1 (the old-age plateau) where a log-linear extrapolation would grow without bound; the
    projection kernel anyway fixes q = 0.5 from age 108 (SSB).
    """
    top = log_m.shape[-1] - 1
    x = np.arange(fit_ages[0], fit_ages[1] + 1, dtype=float)
    window = log_m[..., fit_ages[0] : fit_ages[1] + 1]
    logit = window - jnp.log1p(-jnp.minimum(jnp.exp(window), 0.999))
    slope = logit @ ((x - x.mean()) / ((x - x.mean()) ** 2).sum())
    level = logit.mean(-1)
    extra = np.arange(top + 1, N_AGES, dtype=float) - x.mean()
    extra_rates = jax.nn.sigmoid(level[..., None] + slope[..., None] * extra)
    return jnp.concatenate([jnp.exp(log_m), extra_rates], axis=-1)


def random_walk_paths(last: Array, drift: Array, sigma: Array, shocks: Array) -> Array:
    """k(T+h) = k(T) + h drift + sigma * (e_1 + ... + e_h), h = 1..H.

    last, drift, sigma: (draw, component); shocks: (draw, H, component) standardised innovations.
    Returns (draw, H, component).
    """
    steps = drift[:, None, :] + sigma[:, None, :] * shocks
    return last[:, None, :] + jnp.cumsum(steps, axis=1)


def ar1_paths(last: Array, phi: Array, tau: Array, shocks: Array) -> Array:
    """k(T+h) = phi k(T+h-1) + tau u_h (`jax.lax.scan` over h); shapes as `random_walk_paths`."""

    def step(k: Array, u: Array) -> tuple[Array, Array]:
        following = phi * k + tau * u
        return following, following

    _, path = jax.lax.scan(step, last, jnp.moveaxis(shocks, 1, 0))
    return jnp.moveaxis(path, 0, 1)


def ar1_correlation(phi: np.ndarray, n_years: int) -> np.ndarray:
    """Covariance (component, T, T) of a stationary AR(1) with unit innovation variance:
    phi^|i-j| / (1 - phi^2). phi: (component,)."""
    phi = np.asarray(phi, float)
    lags = np.abs(np.subtract.outer(np.arange(n_years), np.arange(n_years)))
    return phi[:, None, None] ** lags / (1 - phi[:, None, None] ** 2)


def ar1_sum_variance(phi: Array, tau: Array, n_years: int) -> Array:
    """Var(k_1 + ... + k_T) of a stationary AR(1) with coefficient phi and innovation sd tau."""
    lags = jnp.arange(1, n_years)
    powers = jnp.cumprod(jnp.broadcast_to(phi[..., None], (*phi.shape, n_years - 1)), axis=-1)
    return tau**2 / (1 - phi**2) * (n_years + 2 * ((n_years - lags) * powers).sum(-1))


def random_walk_log_density(k: Array, drift: Array, sigma: Array, nu: float | None) -> Array:
    """log density of the increments of k (component, year) under random walks with drift (Student-t(nu)
    innovations of scale sigma, or normal if nu is None). The level is free: it is carried by a."""
    steps = jnp.diff(k, axis=-1)
    if nu is None:
        return dist.Normal(drift[:, None], sigma[:, None]).log_prob(steps).sum()
    return dist.StudentT(nu, drift[:, None], sigma[:, None]).log_prob(steps).sum()


def ar1_centred_log_density(k: Array, phi: Array, tau: Array) -> Array:
    """log density of k (component, year) under stationary AR(1)s around 0 conditioned on sum_t k = 0:
    the path's Gaussian density divided by that of its sum at zero (so phi and tau get their proper
    likelihood although k is constrained)."""
    first = dist.Normal(0.0, tau / jnp.sqrt(1 - phi**2)).log_prob(k[:, 0])
    rest = dist.Normal(phi[:, None] * k[:, :-1], tau[:, None]).log_prob(k[:, 1:]).sum(-1)
    sum_at_zero = dist.Normal(0.0, jnp.sqrt(ar1_sum_variance(phi, tau, k.shape[-1]))).log_prob(0.0)
    return (first + rest - sum_at_zero).sum()


# --------------------------------------------------------------------------------------------------
# Partially non-centred time indices


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
    k: np.ndarray, info: np.ndarray, phi: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Innovation scale (and drift, for random walks) of each index from its noisy reference path:
    maximise the marginal likelihood eta_hat_j ~ N(location trend_j, s^2 + 1 / gamma_j). Returns
    (location, scale), each (component,); location is 0 for AR(1)s."""
    locations, scales = [], []
    for i, (_, eta_hat, gamma, trend) in enumerate(_index_parts(k, info, phi)):

        def negative_log_marginal(x: np.ndarray, eta_hat=eta_hat, gamma=gamma, trend=trend) -> float:
            variance = np.exp(2 * x[1]) + 1 / gamma
            return 0.5 * float(np.sum(np.log(variance) + (eta_hat - x[0] * trend) ** 2 / variance))

        spread = float(np.std(np.diff(k[i]))) + 1e-6
        result = minimize(negative_log_marginal, np.array([0.0, np.log(spread)]), method="Nelder-Mead")
        locations.append(result.x[0] if phi is None else 0.0)
        scales.append(float(np.exp(result.x[1])))
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


# --------------------------------------------------------------------------------------------------
# Reference (maximum-likelihood) fit and identification


class Params(NamedTuple):
    """Coherent model parameters in natural units (also used for their preconditioning scales).

    a_p, a_r: (age,) log rates; b_p: (n_product, age); b_r: (n_ratio, age); k_p: (n_product, year);
    k_r: (n_ratio, year); drift, sigma: (n_product,) per year; phi, tau: (n_ratio,); dispersion: ().
    """

    a_p: Any
    b_p: Any
    k_p: Any
    a_r: Any
    b_r: Any
    k_r: Any
    drift: Any
    sigma: Any
    phi: Any
    tau: Any
    dispersion: Any


PARAM_DIMS: dict[str, list[str]] = {
    "a_p": ["age"],
    "b_p": ["p_component", "age"],
    "k_p": ["p_component", "year"],
    "a_r": ["age"],
    "b_r": ["r_component", "age"],
    "k_r": ["r_component", "year"],
    "drift": ["p_component"],
    "sigma": ["p_component"],
    "phi": ["r_component"],
    "tau": ["r_component"],
    "dispersion": [],
}


def normalise_components(
    b: np.ndarray, k: np.ndarray, weights: np.ndarray, first_mean_one: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a rank-n bilinear term b^T k (b (n, age), k (n, year), k rows centred) to its weighted SVD
    form, with age `weights` w (expected deaths by age).

    Components come out w-orthogonal (sum_x w b_i b_l = 0) with orthogonal k, ordered by size, and
    scaled so that b_1 has w-weighted mean 1 (if `first_mean_one`: k_1 is then the death-weighted mean
    log-rate index) or else w-weighted mean square 1; signed so that b_1 has a positive weighted mean
    or, for the others, the largest |b_i(x)| is positive.
    """
    root = np.sqrt(weights / weights.sum())
    u, s, vt = np.linalg.svd(root[:, None] * (b.T @ k), full_matrices=False)
    b_new, k_new = [], []
    for i in range(b.shape[0]):
        loading = u[:, i] / root
        if i == 0 and first_mean_one:
            factor = float(np.sum(root**2 * loading))
        else:
            factor = float(np.sign(loading[np.argmax(np.abs(loading))]))
        b_new.append(loading / factor)
        k_new.append(s[i] * vt[i] * factor)
    return np.asarray(b_new), np.asarray(k_new)


def age_weights(reference: Params, exposure: np.ndarray) -> np.ndarray:
    """Expected deaths by age (summed over years and sexes) at the reference: the weights of the
    identification (`normalise_components`, `identification`)."""
    return _expected(reference, exposure).sum((0, 1))


def _expected(reference: Params, exposure: np.ndarray) -> np.ndarray:
    """Expected deaths (year, sex, age) at the reference, in float64 whatever JAX's default."""
    with jax.enable_x64(True):
        log_m = product_ratio_log_rates(*(jnp.asarray(x, jnp.float64) for x in reference[:6]))
        return np.asarray(exposure * np.exp(np.asarray(log_m)))


def _svd_start(log_rates: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, b (n, age), k (n, year) of log_rates (year, age) by the SVD (Lee-Carter 1992)."""
    a = log_rates.mean(0)
    u, s, vt = np.linalg.svd((log_rates - a).T, full_matrices=False)
    return a, u[:, :n].T * np.sqrt(s[:n, None]), vt[:n] * np.sqrt(s[:n, None])


def _lbfgs(objective: Any, start: np.ndarray, max_iterations: int) -> np.ndarray:
    """Minimise a JAX scalar function by SciPy's L-BFGS-B with a jitted value-and-gradient (float64)."""
    value_and_grad = jax.jit(jax.value_and_grad(objective))
    result = minimize(
        lambda theta: tuple(np.asarray(v, float) for v in value_and_grad(jnp.asarray(theta))),
        np.asarray(start, float),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations, "ftol": 1e-11, "gtol": 1e-9, "maxcor": 30},
    )
    return result.x


def fisher_information(reference: Params, exposure: np.ndarray) -> np.ndarray:
    """Fisher information of log mu per cell (year, sex, age) at the reference: mu / (1 + dispersion mu)."""
    mu = _expected(reference, exposure)
    return mu / (1 + float(reference.dispersion) * mu)


def reference_fit(
    deaths: np.ndarray,
    exposure: np.ndarray,
    n_product: int,
    n_ratio: int,
    basis: np.ndarray,
    max_iterations: int = 3000,
) -> Params:
    """Poisson maximum likelihood of the product-ratio model (Brouhns et al. 2002 for two sexes), L-BFGS,
    with loadings b = beta @ basis.T (`loading_basis`).

    deaths, exposure: (year, sex, age). The estimates come out in the model's normalisation
    (`normalise_components`). Time-series parameters: phi by least squares on the ML ratio indices
    (clipped to +-0.95), drift, sigma and tau by empirical Bayes (`empirical_bayes_scales`, which
    discounts the sampling noise of the ML indices), dispersion by moments of the Pearson residuals.
    The result seeds and preconditions NUTS and fixes the identification (`identification`).
    """
    log_m = filled_log_rates(deaths, exposure)
    log_p, log_r = 0.5 * (log_m[:, 0] + log_m[:, 1]), 0.5 * (log_m[:, 1] - log_m[:, 0])
    starts = [*_svd_start(log_p, n_product), *_svd_start(log_r, n_ratio)]
    to_beta = np.linalg.pinv(basis)
    starts[1], starts[4] = starts[1] @ to_beta.T, starts[4] @ to_beta.T
    shapes = [x.shape for x in starts]
    splits = np.cumsum([x.size for x in starts])[:-1]
    total_deaths = deaths.sum()

    def unpack(theta: Array) -> list[Array]:
        parts = [part.reshape(shape) for part, shape in zip(jnp.split(theta, splits), shapes, strict=True)]
        parts[1], parts[4] = parts[1] @ basis.T, parts[4] @ basis.T
        return parts

    def loss(theta: Array) -> Array:
        a_p, b_p, k_p, a_r, b_r, k_r = unpack(theta)
        log_mu = jnp.log(exposure) + product_ratio_log_rates(a_p, b_p, k_p, a_r, b_r, k_r)
        ridge = 1e-6 * (jnp.sum(b_p**2) + jnp.sum(k_p**2) + jnp.sum(b_r**2) + jnp.sum(k_r**2))
        return jnp.sum(jnp.exp(log_mu) - deaths * log_mu) / total_deaths + ridge

    with jax.enable_x64(True):
        theta = _lbfgs(loss, np.concatenate([x.ravel() for x in starts]), max_iterations)
        a_p, b_p, k_p, a_r, b_r, k_r = (np.asarray(x) for x in unpack(jnp.asarray(theta)))
    a_p, a_r = a_p + b_p.T @ k_p.mean(1), a_r + b_r.T @ k_r.mean(1)
    k_p, k_r = k_p - k_p.mean(1, keepdims=True), k_r - k_r.mean(1, keepdims=True)
    weights = age_weights(Params(a_p, b_p, k_p, a_r, b_r, k_r, *[None] * 5), exposure)
    b_p, k_p = normalise_components(b_p, k_p, weights, first_mean_one=True)
    b_r, k_r = normalise_components(b_r, k_r, weights, first_mean_one=False)

    mu = exposure * np.exp(np.asarray(product_ratio_log_rates(a_p, b_p, k_p, a_r, b_r, k_r)))
    dispersion = np.asarray(max(float(((deaths - mu) ** 2 - mu).sum() / (mu**2).sum()), 1e-4))
    phi = np.clip((k_r[:, 1:] * k_r[:, :-1]).sum(1) / (k_r[:, :-1] ** 2).sum(1), -0.95, 0.95)
    partial = Params(a_p, b_p, k_p, a_r, b_r, k_r, None, None, phi, None, dispersion)
    info = fisher_information(partial, exposure).sum(1)  # (year, age)
    drift, sigma = empirical_bayes_scales(k_p, np.einsum("tx,ix->it", info, b_p**2), None)
    _, tau = empirical_bayes_scales(k_r, np.einsum("tx,jx->jt", info, b_r**2), phi)
    return partial._replace(drift=drift, sigma=sigma, tau=tau)


def identification(reference: Params, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Constraint directions (component, age, n_components) of b_p and b_r, from the reference fit and
    the age weights w (`age_weights`, expected deaths by age).

    Component i of b keeps c_i . b_i and (w u_l) . b_i (l != i) at their reference values, where u_l
    are the reference loadings: 0 for l != i, a w-weighted orthogonality that removes rotations between
    components; c_1 = w for the product (b_p1 keeps a death-weighted mean of 1, k_p1 is the
    death-weighted mean log-rate index) and c_i = w u_i otherwise (a fixed weighted scale, and with its
    positive value no sign flips). Weighting by deaths pins the scale of each component where the data
    are precise, so the imprecise ages cannot trade scale with k along a ridge.
    """

    def directions(b: np.ndarray, first_is_mean: bool) -> np.ndarray:
        weighted = weights * b / np.linalg.norm(weights * b, axis=1, keepdims=True)
        out = []
        for i in range(b.shape[0]):
            own = weights / np.linalg.norm(weights) if (i == 0 and first_is_mean) else weighted[i]
            out.append(np.stack([own, *np.delete(weighted, i, axis=0)], axis=-1))
        return np.asarray(out)

    return directions(np.asarray(reference.b_p), True), directions(np.asarray(reference.b_r), False)


def constraint_basis(scale: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Orthonormal basis (..., n, c) of the columns of scale[..., None] * directions (..., n, c): a vector
    ref + scale * (v - Q Q^T v) keeps directions^T(.) = directions^T ref for every v."""
    return np.linalg.qr(np.asarray(scale)[..., None] * np.asarray(directions))[0]


# --------------------------------------------------------------------------------------------------
# Model


class Frame(NamedTuple):
    """What the coherent model needs besides data, all derived from the reference fit (`make_frame`).

    reference: ML estimates (`reference_fit`). loadings: `loading_basis` (age, node); beta_p, beta_r:
    the reference b at the nodes (b = beta @ loadings.T). scale: rough posterior sds (the units of
    NUTS's coordinates) of beta (fields b_p, b_r; Fisher information) and of the scalars (drift; log
    sigma, atanh phi, log tau, log sqrt(dispersion)). level_scale: (sex, age) those of each sex's level
    a_p -/+ a_r. basis_b_p, basis_b_r: `constraint_basis` of the identification. index_p, index_r:
    `IndexCoordinates` of the time indices.
    """

    reference: Params
    scale: Params
    level_scale: np.ndarray
    loadings: np.ndarray
    beta_p: np.ndarray
    beta_r: np.ndarray
    basis_b_p: np.ndarray
    basis_b_r: np.ndarray
    index_p: IndexCoordinates
    index_r: IndexCoordinates


def make_frame(reference: Params, exposure: np.ndarray) -> Frame:
    """The model frame from the reference estimates and exposures (year, sex, age); deterministic, so a
    stored fit can rebuild it (`frame_from_idata`)."""
    n_years = reference.k_p.shape[1]
    info = fisher_information(reference, exposure)
    by_year_age = info.sum(1)
    info_k_p = np.einsum("tx,ix->it", by_year_age, reference.b_p**2)
    info_k_r = np.einsum("tx,jx->jt", by_year_age, reference.b_r**2)
    phi = np.asarray(reference.phi)
    loadings = loading_basis(np.arange(np.shape(reference.a_p)[0]))
    squares = loadings**2
    scale = Params(
        a_p=None,
        b_p=1 / np.sqrt(np.einsum("tx,it,xn->in", by_year_age, reference.k_p**2, squares)),
        k_p=None,
        a_r=None,
        b_r=1 / np.sqrt(np.einsum("tx,jt,xn->jn", by_year_age, reference.k_r**2, squares)),
        k_r=None,
        drift=np.asarray(reference.sigma) / math.sqrt(n_years - 1),
        sigma=np.full(np.shape(reference.sigma), 1 / math.sqrt(2 * (n_years - 1))),
        phi=1 / np.sqrt(n_years * (1 - phi**2)),
        tau=np.full(np.shape(reference.tau), 1 / math.sqrt(2 * n_years)),
        dispersion=np.asarray(0.1),
    )
    dirs_p, dirs_r = identification(reference, age_weights(reference, exposure))
    to_beta = np.linalg.pinv(loadings)
    return Frame(
        reference,
        scale,
        1 / np.sqrt(info.sum(0)),
        loadings,
        np.asarray(reference.b_p) @ to_beta.T,
        np.asarray(reference.b_r) @ to_beta.T,
        constraint_basis(scale.b_p, np.einsum("xn,ixc->inc", loadings, dirs_p)),
        constraint_basis(scale.b_r, np.einsum("xn,ixc->inc", loadings, dirs_r)),
        index_coordinates(np.asarray(reference.k_p), info_k_p, np.asarray(reference.sigma), None),
        index_coordinates(np.asarray(reference.k_r), info_k_r, np.asarray(reference.tau), phi),
    )


def log_prior(params: Params) -> Array:
    """log prior density of the natural parameters except the time indices:

    a_p(x) ~ N(-5, 5), a_r(x) ~ N(0, 1), b_p1(x) ~ N(1, 2), other b(x) ~ N(0, 1) (they have rms 1;
    this also bounds the scale trade-off b_i k_i of weak components), drift_i ~ N(0, 0.1),
    sigma_i ~ HalfNormal(0.1), phi_j ~ U(-1, 1), tau_j ~ HalfNormal(0.1), sqrt(dispersion) ~
    HalfNormal(0.2). The indices' priors are the random walks and AR(1)s of the module docstring.
    """
    b_p_mean = jnp.zeros_like(params.b_p).at[0].set(1.0)
    b_p_sd = jnp.ones_like(params.b_p).at[0].set(2.0)
    return (
        dist.Normal(-5.0, 5.0).log_prob(params.a_p).sum()
        + dist.Normal(0.0, 1.0).log_prob(params.a_r).sum()
        + dist.Normal(b_p_mean, b_p_sd).log_prob(params.b_p).sum()
        + dist.Normal(0.0, 1.0).log_prob(params.b_r).sum()
        + dist.Normal(0.0, 0.1).log_prob(params.drift).sum()
        + dist.HalfNormal(0.1).log_prob(params.sigma).sum()
        + dist.HalfNormal(0.1).log_prob(params.tau).sum()
        + dist.Uniform(-1.0, 1.0).log_prob(params.phi).sum()
    )


class NegativeBinomialCounts(dist.NegativeBinomial2):
    """`NegativeBinomial2` (mean, concentration c; variance mean + mean^2 / c) with the log mass written
    with log-gammas, lgamma(y + c) - lgamma(c) - lgamma(y + 1) + c log(c / (c + mean)) +
    y log(mean / (c + mean)): the same values, about three times faster than NumPyro's betaln form."""

    def log_prob(self, value: ArrayLike) -> Array:
        concentration = self.concentration
        mean = concentration / self.rate
        log_total = jnp.log(concentration + mean)
        return (
            gammaln(value + concentration)
            - gammaln(concentration)
            - gammaln(value + 1)
            + concentration * (jnp.log(concentration) - log_total)
            + value * (jnp.log(mean) - log_total)
        )


@jax.jit
def expected_deaths(params: Params, exposure: Array) -> Array:
    """E m (year, sex, age) given the parameters; 1 where there is no exposure (those cells are masked)."""
    log_m = product_ratio_log_rates(params.a_p, params.b_p, params.k_p, params.a_r, params.b_r, params.k_r)
    return jnp.where(exposure > 0, exposure * jnp.exp(log_m), 1.0)


def death_distribution(params: Params, exposure: Array, likelihood: str) -> dist.Distribution:
    """Counts (year, sex, age) given the parameters: negative binomial (mean E m, variance mean +
    dispersion mean^2) or Poisson; cells without exposure are masked out."""
    at_risk = exposure > 0
    mean = expected_deaths(params, exposure)
    if likelihood == "negbin":
        counts = NegativeBinomialCounts(mean, 1.0 / params.dispersion)
    else:
        counts = dist.Poisson(mean)
    return counts.mask(at_risk).to_event(3)


def coordinate_shapes(frame: Frame, likelihood: str) -> dict[str, tuple[int, ...]]:
    """Shapes of the model's standardised coordinates (see `natural_parameters`); the dispersion only
    for the negative binomial likelihood."""
    ref = frame.reference
    n_product, n_ages = np.shape(ref.b_p)
    n_ratio = np.shape(ref.b_r)[0]
    n_steps = np.shape(ref.k_p)[1] - 1
    n_nodes = frame.loadings.shape[1]
    return {
        "level": (2, n_ages),
        "b_p": (n_product, n_nodes),
        "b_r": (n_ratio, n_nodes),
        "k_p": (n_product, n_steps),
        "k_r": (n_ratio, n_steps),
        "drift": (n_product,),
        "sigma": (n_product,),
        "phi": (n_ratio,),
        "tau": (n_ratio,),
        **({"dispersion": ()} if likelihood == "negbin" else {}),
    }


def _constrained(reference: Array, scale: Array, basis: Array, z: Array) -> tuple[Array, Array]:
    """reference + scale * (z with its `basis` part removed), and a N(0, 1) log density for the removed
    part (it does not change the result, so this keeps the posterior proper). The result meets the
    identification constraints exactly."""
    along = jnp.einsum("...nc,...n->...c", basis, z)
    value = reference + scale * (z - jnp.einsum("...nc,...c->...n", basis, along))
    return value, dist.Normal().log_prob(along).sum()


@partial(jax.jit, static_argnames=("nu",))
def natural_parameters(coords: dict[str, Array], frame: Frame, nu: float | None) -> tuple[Params, Array]:
    """The model's parameters from its standardised coordinates, and the log prior density of the
    coordinates (`log_prior`, the indices' random walks / AR(1)s, log-Jacobians). A pure transform.

    Coordinates: the sexes' levels a_p -/+ a_r (nearly independent a posteriori, unlike a_p and a_r
    where the sexes' deaths differ) and b at the `LOADING_NODES` as offsets from the reference in units
    of their Fisher sd (projected onto the identification constraints); drift, and log sigma, atanh
    phi, log tau, log sqrt(dispersion) as offsets likewise; the time indices in partially non-centred
    coordinates (`IndexCoordinates`).
    """
    ref, sc = frame.reference, frame.scale
    reference_levels = jnp.stack([ref.a_p - ref.a_r, ref.a_p + ref.a_r])
    levels = reference_levels + frame.level_scale * coords["level"]
    beta_p, log_fixed_p = _constrained(frame.beta_p, sc.b_p, frame.basis_b_p, coords["b_p"])
    beta_r, log_fixed_r = _constrained(frame.beta_r, sc.b_r, frame.basis_b_r, coords["b_r"])
    b_p, b_r = beta_p @ frame.loadings.T, beta_r @ frame.loadings.T
    drift = ref.drift + sc.drift * coords["drift"]
    log_sigma = jnp.log(ref.sigma) + sc.sigma * coords["sigma"]
    log_tau = jnp.log(ref.tau) + sc.tau * coords["tau"]
    if "dispersion" in coords:
        log_cv = 0.5 * jnp.log(ref.dispersion) + sc.dispersion * coords["dispersion"]
        dispersion, log_jac_cv = jnp.exp(2 * log_cv), log_cv + dist.HalfNormal(0.2).log_prob(jnp.exp(log_cv))
    else:  # Poisson
        dispersion, log_jac_cv = jnp.zeros(()), 0.0
    sigma, tau = jnp.exp(log_sigma), jnp.exp(log_tau)
    phi = jnp.tanh(jnp.arctanh(ref.phi) + sc.phi * coords["phi"])
    k_p, log_jac_k_p = index_from_coordinates(coords["k_p"], drift, sigma, frame.index_p)
    k_r, log_jac_k_r = index_from_coordinates(coords["k_r"], jnp.zeros_like(tau), tau, frame.index_r)
    a_p, a_r = 0.5 * (levels[0] + levels[1]), 0.5 * (levels[1] - levels[0])
    params = Params(a_p, b_p, k_p, a_r, b_r, k_r, drift, sigma, phi, tau, dispersion)
    log_density = (
        log_prior(params)
        + random_walk_log_density(k_p, drift, sigma, nu)
        + ar1_centred_log_density(k_r, phi, tau)
        + log_fixed_p
        + log_fixed_r
        + log_sigma.sum()
        + log_tau.sum()
        + log_jac_cv
        + jnp.log1p(-(phi**2)).sum()
        + log_jac_k_p
        + log_jac_k_r
    )
    return params, log_density


def coherent_lee_carter_model(
    frame: Frame,
    exposure: Array,
    deaths: Array | None = None,
    nu: float | None = DEFAULT_NU,
    likelihood: str = "negbin",
) -> None:
    """The coherent (product-ratio) Lee-Carter model: equations in the module docstring, priors in
    `log_prior`. exposure, deaths: (year, sex, age) person-years and counts; nu: Student-t degrees of
    freedom of the product innovations (None: normal); likelihood "negbin" or "poisson".

    NUTS samples the standardised coordinates of `natural_parameters` (sites "<name>_z", flat priors;
    the model's log prior enters as a factor, so the posterior is exactly the model's). Natural
    parameters are recorded as deterministic sites.
    """
    coords = {
        name: numpyro.sample(f"{name}_z", dist.ImproperUniform(constraints.real, (), shape))
        for name, shape in coordinate_shapes(frame, likelihood).items()
    }
    params, log_density = natural_parameters(coords, frame, nu)
    for name, value in params._asdict().items():
        numpyro.deterministic(name, value)
    numpyro.factor("prior", log_density)
    numpyro.sample("deaths", death_distribution(params, exposure, likelihood), obs=deaths)


# --------------------------------------------------------------------------------------------------
# Simulation (for recovery tests)


def simulate(
    params: dict[str, Any], exposure: xr.DataArray, key: Array, nu: float | None = None
) -> xr.Dataset:
    """Death counts from known parameters: the coherent model's data-generating process.

    params: a_p, a_r (age,), b_p (n_product, age), b_r (n_ratio, age), drift, sigma (n_product,), phi,
    tau (n_ratio,), dispersion (scalar; 0 gives Poisson counts). exposure: (year, sex, age) person-years.
    k_p is a random walk with drift (normal, or Student-t(nu) innovations), centred; k_r a stationary
    AR(1) conditioned on summing to zero (the model's identification). Returns a Dataset with deaths
    (year, sex, age) and the simulated k_p, k_r.
    """
    exposure = exposure.transpose("year", "sex", "age")
    n_years = exposure.sizes["year"]
    p = {name: np.asarray(value, float) for name, value in params.items()}
    keys = jax.random.split(key, 4)
    n_product, n_ratio = p["drift"].shape[0], p["phi"].shape[0]
    with jax.enable_x64(True):
        if nu is None:
            e = jax.random.normal(keys[0], (n_product, n_years - 1))
        else:
            e = jax.random.t(keys[0], nu, (n_product, n_years - 1))
        steps = p["drift"][:, None] + p["sigma"][:, None] * np.asarray(e)
        k_p = np.concatenate([np.zeros((n_product, 1)), np.cumsum(steps, axis=1)], axis=1)
        k_p = k_p - k_p.mean(1, keepdims=True)
        cov = p["tau"][:, None, None] ** 2 * ar1_correlation(p["phi"], n_years)
        chol = np.linalg.cholesky(cov)
        k_free = np.einsum("jts,js->jt", chol, np.asarray(jax.random.normal(keys[1], (n_ratio, n_years))))
        row_sums = cov.sum(-1)  # Cov(k, sum k)
        k_r = k_free - row_sums * (k_free.sum(1) / row_sums.sum(1))[:, None]
        log_m = np.asarray(product_ratio_log_rates(p["a_p"], p["b_p"], k_p, p["a_r"], p["b_r"], k_r))
        mean = exposure.values * np.exp(log_m)
        if float(p["dispersion"]) > 0:
            concentration = 1 / float(p["dispersion"])
            rate = jax.random.gamma(keys[2], concentration, mean.shape) / concentration
            mean = mean * np.asarray(rate)
        deaths = np.asarray(jax.random.poisson(keys[3], mean), float)
    return xr.Dataset(
        {
            "deaths": (("year", "sex", "age"), deaths),
            "k_p": (("p_component", "year"), k_p),
            "k_r": (("r_component", "year"), k_r),
        },
        coords={name: exposure[name].values for name in ("year", "sex", "age")},
    )


# --------------------------------------------------------------------------------------------------
# Forecast helpers shared by both components


def _check_years(years: Sequence[int], last_fitted: int) -> np.ndarray:
    years = np.asarray(years, dtype=int)
    if years.size == 0 or (years <= last_fitted).any():
        raise ValueError(f"forecast years must be after the last fitted year {last_fitted}: {years.tolist()}")
    return years


def mortality_values(log_m: Array) -> dict[str, Array]:
    """Rates (..., sex, age 0..119) from log rates (..., sex, age 0..FIT_MAX_AGE) extended by
    `kannisto_rates`, and their e0 (..., sex; `lifetable.e0_by_sex`)."""
    rates = kannisto_rates(log_m)
    return {"mortality": rates, "e0": e0_by_sex(rates, jnp)}


def _forecast(
    component: "CoherentLeeCarter | LeeCarter",
    idata: az.InferenceData,
    years: Sequence[int],
    paths: Paths,
    key: Array,
    jump_off: str,
) -> xr.Dataset:
    """A mortality component's forecast: the `values` of its `drivers` for every year, labelled: rates
    (draw, year, sex, age 0..119) and their e0 (draw, year, sex), float32 as the kernel runs; draw: the path
    indices."""
    values = values_by_year(component, component.drivers(idata, years, paths, key))
    coords = {
        "draw": path_indices(paths),
        "year": np.asarray(years),
        "sex": list(SEXES),
        "age": FORECAST_AGES,
    }
    attrs = {"component": component.name, "model": type(component).__name__, "jump_off": jump_off}
    return xr.Dataset(
        {
            "mortality": (
                ("draw", "year", "sex", "age"),
                np.asarray(values["mortality"]),
                {"units": "deaths per person-year", "age": "completed years (Lexis squares), 119 open"},
            ),
            "e0": (
                ("draw", "year", "sex"),
                np.asarray(values["e0"]),
                {"units": "years", "method": "HMD life table (lifetable.e0)"},
            ),
        },
        coords=coords,
        attrs=attrs,
    )


@partial(jax.jit, static_argnames=("horizon", "nu"))
def coherent_index_paths(
    params: dict[str, Array], pick: Array, keys: Array, horizon: int, nu: float | None
) -> tuple[Array, Array]:
    """Product and ratio indices (draw, year, component) of the coherent model at positions `pick` of
    T+1..T+horizon, all paths at once; keys: one PRNG key per path (`base.path_keys`).

    params: natural parameters with a leading draw axis (`PARAM_DIMS`). Product indices continue their
    random walks with drift from k(T) (Student-t(nu) or normal innovations), ratio indices their AR(1)s.
    """
    shocks_p = path_shocks(keys, 1, (horizon, params["k_p"].shape[1]), nu)
    shocks_r = path_shocks(keys, 2, (horizon, params["k_r"].shape[1]))
    k_p = random_walk_paths(params["k_p"][..., -1], params["drift"], params["sigma"], shocks_p)
    k_r = ar1_paths(params["k_r"][..., -1], params["phi"], params["tau"], shocks_r)
    return k_p[:, pick], k_r[:, pick]


@partial(jax.jit, static_argnames=("horizon",))
def lee_carter_index_paths(
    last: Array, drift: Array, sigma: Array, pick: Array, keys: Array, horizon: int
) -> Array:
    """Indices k_s (draw, year, sex) of the one-sex Lee-Carter at positions `pick` of T+1..T+horizon: each
    continues its random walk with drift from `last` (draw, sex) with normal innovations; drift, sigma
    (draw, sex); keys: one PRNG key per path."""
    shocks = path_shocks(keys, 1, (horizon, drift.shape[1]))
    return random_walk_paths(last, drift, sigma, shocks)[:, pick]


# --------------------------------------------------------------------------------------------------
# Components


@dataclass(frozen=True)
class CoherentLeeCarter:
    """Bayesian coherent (product-ratio) two-sex Lee-Carter fitted by NUTS to death counts (module
    docstring: equations, priors, identification).

    Options:
    * n_product (default 2, SSB's choice after Keilman & Pham 2005): random-walk components of log p.
      On Norway 1990-2017 the second is weak (sigma_2 ~ 0.005, drift_2 ~ 0): it mostly adds width.
    * n_ratio (default 1): AR(1) components of log r. One carries the systematic narrowing of the male
      excess; a second, stationary one would only add transient noise that the forecast forgets within a
      few years (its AR coefficient is ~0.5 in an ML fit), for ~55 more parameters and slower mixing.
    * first_year (default 1990, as SSB): the fit period should be one regime of decline, as Lee-Carter
      holds the loadings b(x) fixed; Norwegian male mortality stagnated from the 1950s to the 1980s
      (cardiovascular epidemic) and has fallen fast since about 1990, so earlier years would bias the
      drift and b. last_year: default the last year with deaths and exposures.
    * nu (default 5): Student-t degrees of freedom of the product innovations, so years like 2022 (male
      e0 down 0.7) are not many-sigma events; None for normal innovations.
    * likelihood "negbin" (default; Norway's dispersion is small, 2.4e-4 (90% 1.3e-4 to 3.6e-4), but
      clearly above 0, and it widens old-age uncertainty) or "poisson" (Brouhns et al. 2002; its
      gradient is about half as costly, so the fit is faster).
    * jump_off "fitted" (default): paths continue from the posterior of the last fitted year's indices
      k(T), i.e. from the model's rates for year T. These carry the last year's data through k(T) but
      not the single-age noise of the observed rates (a young age with 3-10 deaths has a log rate sd of
      0.3-0.6), which Lee & Miller's (2001) observed jump-off would copy into every future year; the
      price is a level offset (Norway 2017: fitted e0 0.07 above the registered for women, 0.21 below
      for men). "observed" adds the last year's log residual (observed - fitted, where there were
      deaths) to every path instead.
    """

    name: str = "mortality"
    n_product: int = 2
    n_ratio: int = 1
    first_year: int | None = DEFAULT_FIRST_YEAR
    last_year: int | None = None
    nu: float | None = DEFAULT_NU
    likelihood: str = "negbin"
    jump_off: str = "fitted"

    def __post_init__(self) -> None:
        if self.likelihood not in ("negbin", "poisson"):
            raise ValueError(f"likelihood must be 'negbin' or 'poisson', not {self.likelihood!r}")
        if self.jump_off not in ("fitted", "observed"):
            raise ValueError(f"jump_off must be 'fitted' or 'observed', not {self.jump_off!r}")
        if self.n_product < 1 or self.n_ratio < 1:
            raise ValueError("n_product and n_ratio must be at least 1")

    def model_inputs(self, window: FitWindow) -> dict[str, Any]:
        """Keyword arguments of `coherent_lee_carter_model` (runs the ML reference fit)."""
        basis = loading_basis(window.ages)
        reference = reference_fit(window.deaths, window.exposure, self.n_product, self.n_ratio, basis)
        return self._inputs(window.exposure, window.deaths, make_frame(reference, window.exposure))

    def _inputs(self, exposure: np.ndarray, deaths: np.ndarray | None, frame: Frame) -> dict[str, Any]:
        return {
            "frame": frame,
            "exposure": exposure,
            "deaths": deaths,
            "nu": self.nu,
            "likelihood": self.likelihood,
        }

    def fit(self, data: CountryData, settings: FitSettings = FitSettings()) -> az.InferenceData:  # noqa: B008
        """Fit by NUTS (or SVI) via `base.fit_model`, diagnosed over the natural parameters (`PARAM_DIMS`).

        constant_data holds the fitted ages and years, observed deaths and exposures and the reference
        estimates (`reference_*`) from which `make_frame` rebuilds the model for
        `posterior_predictive_check`.
        """
        window = fit_window(data, self.first_year, self.last_year)
        # no log_likelihood group: it would cost a vectorised model pass and ~90 MB per fit
        with jax.enable_x64(True), az.rc_context(rc={"data.log_likelihood": False}):
            inputs = self.model_inputs(window)
            coords = {
                "age": window.ages,
                "year": window.years,
                "sex": np.asarray(SEXES),
                "p_component": np.arange(1, self.n_product + 1),
                "r_component": np.arange(1, self.n_ratio + 1),
                "node": np.asarray(LOADING_NODES),
                "step": window.years[1:],
            }
            sites = {
                "level_z": ["sex", "age"],
                "b_p_z": ["p_component", "node"],
                "b_r_z": ["r_component", "node"],
                "k_p_z": ["p_component", "step"],
                "k_r_z": ["r_component", "step"],
                "drift_z": ["p_component"],
                "sigma_z": ["p_component"],
                "phi_z": ["r_component"],
                "tau_z": ["r_component"],
            }
            idata = fit_model(
                coherent_lee_carter_model,
                inputs,
                settings,
                coords,
                {**PARAM_DIMS, **sites},
                self._constant_data(window, inputs["frame"], coords),
                check=list(PARAM_DIMS),
                attrs={
                    "component": self.name,
                    "model": type(self).__name__,
                    "options": json.dumps(asdict(self)),
                },
            )
        return idata

    def _constant_data(
        self, window: FitWindow, frame: Frame, coords: dict[str, np.ndarray]
    ) -> dict[str, xr.DataArray]:
        def labelled(value: Any, dims: Sequence[str]) -> xr.DataArray:
            return xr.DataArray(np.asarray(value), {d: coords[d] for d in dims}, list(dims))

        out = {
            "exposure": labelled(window.exposure, ("year", "sex", "age")),
            "observed_deaths": labelled(window.deaths, ("year", "sex", "age")),
        }
        for field, value in frame.reference._asdict().items():
            out[f"reference_{field}"] = labelled(value, PARAM_DIMS[field])
        return out

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """`years` after the fit period, all paths at once. Each path takes one joint posterior draw
        (parameter uncertainty) and its own future innovations (process uncertainty), both from
        fold_in(key, path index) (`base.path_keys`): product indices continue their random walks with drift
        from k(T), ratio indices their AR(1)s.

        fixed: a_p, b_p, a_r, b_r (draw, [component,] age 0..100) and the log-rate offset (draw, sex, age;
        the jump-off residual, or 0); series: k_p (draw, year, n_product) and k_r (draw, year, n_ratio).
        """
        fitted_years = constant_values(idata, "year")
        years = _check_years(years, int(fitted_years[-1]))
        index, keys = path_indices(paths), path_keys(key, paths)
        draws = posterior_draws(idata, keys, list(PARAM_DIMS))
        with jax.enable_x64(False):  # float32 paths, as the kernel runs
            params = {name: jnp.asarray(draws[name], dtype=jnp.float32) for name in PARAM_DIMS}
            if self.jump_off == "observed":
                offset = jump_off_residual(idata, params)
            else:
                offset = jnp.zeros((index.size, len(SEXES), FITTED_AGES.size), jnp.float32)
            horizon = int(years.max() - fitted_years[-1])
            pick = jnp.asarray(years - int(fitted_years[-1]) - 1)
            k_p, k_r = coherent_index_paths(params, pick, keys, horizon, self.nu)
        fixed = {name: params[name] for name in ("a_p", "b_p", "a_r", "b_r")}
        return Drivers({**fixed, "offset": offset}, {"k_p": k_p, "k_r": k_r})

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> dict[str, Array]:
        """Rates (draw, sex, age 0..119) and e0 (draw, sex) of one year (`mortality_values`)."""
        log_m = product_ratio_log_rates(
            fixed["a_p"],
            fixed["b_p"],
            step["k_p"][..., None],
            fixed["a_r"],
            fixed["b_r"],
            step["k_r"][..., None],
        )
        return mortality_values(log_m[..., 0, :, :] + fixed["offset"])

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """Rates (draw, year, sex, age 0..119) and e0 (draw, year, sex) for `years` after the fit period
        (`drivers`, `values`)."""
        return _forecast(self, idata, years, paths, key, self.jump_off)


def jump_off_residual(idata: az.InferenceData, p: dict[str, Array]) -> Array:
    """Observed minus fitted log rates in the last fitted year (draw, sex, age); 0 where no deaths."""
    deaths = constant_values(idata, "observed_deaths")[-1]
    exposure = constant_values(idata, "exposure")[-1]
    fitted = product_ratio_log_rates(
        p["a_p"], p["b_p"], p["k_p"][..., -1:], p["a_r"], p["b_r"], p["k_r"][..., -1:]
    )
    with np.errstate(divide="ignore"):
        observed = np.log(deaths / exposure)
    return jnp.where(deaths > 0, observed - fitted[:, 0], 0.0)


def frame_from_idata(idata: az.InferenceData) -> Frame:
    """The model frame of a coherent fit, rebuilt from its stored reference estimates and exposures."""
    reference = Params(*(constant_values(idata, f"reference_{field}") for field in Params._fields))
    return make_frame(reference, constant_values(idata, "exposure"))


def posterior_predictive_check(
    idata: az.InferenceData,
    data: CountryData | None = None,
    interval: float = 0.9,
    n_draws: int | None = None,
    key: Array | None = None,
) -> dict[str, float]:
    """Share of observed death counts (fitted years, ages 0..100) inside their central `interval`
    posterior predictive intervals, by sex.

    Replicated counts come from `numpyro.infer.Predictive` on `coherent_lee_carter_model` with the
    posterior draws (all, or `n_draws` evenly spaced ones). `data` defaults to the counts stored with
    the fit; otherwise its deaths over the fitted years are checked.
    """
    component = CoherentLeeCarter(**json.loads(idata.posterior.attrs["options"]))
    years = constant_values(idata, "year")
    if data is None:
        deaths = constant_values(idata, "observed_deaths")
    else:
        deaths = fit_window(data, int(years[0]), int(years[-1])).deaths
    names = [name for name in idata.posterior.data_vars if name.endswith("_z")]
    stacked = idata.posterior[names].stack(sample=("chain", "draw"))
    if n_draws is not None:
        stacked = stacked.isel(sample=np.linspace(0, stacked.sizes["sample"] - 1, n_draws).astype(int))
    samples = {name: stacked[name].transpose("sample", ...).values for name in names}
    key = jax.random.PRNGKey(0) if key is None else key
    with jax.enable_x64(True):
        inputs = component._inputs(constant_values(idata, "exposure"), None, frame_from_idata(idata))
        predictive = Predictive(coherent_lee_carter_model, posterior_samples=samples, return_sites=["deaths"])
        replicates = np.asarray(predictive(key, **inputs)["deaths"])
    low, high = np.quantile(replicates, [(1 - interval) / 2, (1 + interval) / 2], axis=0)
    inside = (deaths >= low) & (deaths <= high)
    return {sex: float(inside[:, i].mean()) for i, sex in enumerate(SEXES)}


@dataclass(frozen=True)
class LeeCarter:
    """Classic one-sex Lee-Carter (Lee & Carter 1992), each sex on its own; the fast baseline.

    Fitted without MCMC: a(x) = mean log rate over the fit years, b(x) and k(t) from the first singular
    vectors of the centred log rates (ages 0..100, empty cells interpolated; b averages 1 over age), then
    (if `reestimate_k`) k(t) re-estimated so the fitted deaths of each year equal the observed total
    (Lee-Carter's second stage). k follows a random walk with drift; the "posterior" holds draws of
    (drift, sigma) from their exact posterior under the reference prior p(drift, sigma) ~ 1/sigma with
    normal increments: sigma^2 ~ s^2 (T-2) / chi2(T-2), drift ~ N(mean increment, sigma^2 / (T-1)).
    a, b and k are point estimates (in constant_data). Forecasts jump off from the fitted k(T) (with the
    re-estimated k the fitted deaths of year T equal the observed ones) and extend ages by Kannisto.
    Its median is the SSB-like deterministic baseline; sexes can diverge (no coherence).
    """

    name: str = "mortality"
    first_year: int | None = DEFAULT_FIRST_YEAR
    last_year: int | None = None
    reestimate_k: bool = True

    def fit(self, data: CountryData, settings: FitSettings = FitSettings()) -> az.InferenceData:  # noqa: B008
        """Point estimates of a, b, k and posterior draws of drift and sigma, per sex."""
        window = fit_window(data, self.first_year, self.last_year)
        log_m = filled_log_rates(window.deaths, window.exposure)  # (year, sex, age)
        n_years, n_ages = log_m.shape[0], log_m.shape[2]
        a = log_m.mean(0)  # (sex, age)
        centred = log_m - a
        b, k = [], []
        for s in range(len(SEXES)):
            u, sv, vt = np.linalg.svd(centred[:, s].T, full_matrices=False)
            factor = u[:, 0].sum() / n_ages
            b.append(u[:, 0] / factor)
            k.append(sv[0] * vt[0] * factor)
        b, k = np.asarray(b), np.asarray(k)  # (sex, age), (sex, year)
        if self.reestimate_k:
            k = reestimate_indices(a, b, k, window.deaths, window.exposure)
        steps = np.diff(k, axis=1)
        mean_step, s2 = steps.mean(1), steps.var(1, ddof=1)
        n_samples = settings.chains * settings.samples
        rng = np.random.default_rng(settings.seed)
        sigma2 = s2 * (n_years - 2) / rng.chisquare(n_years - 2, (n_samples, len(SEXES)))
        drift = mean_step + np.sqrt(sigma2 / (n_years - 1)) * rng.standard_normal((n_samples, len(SEXES)))
        shape = (settings.chains, settings.samples, len(SEXES))
        coords = {"sex": list(SEXES), "age": window.ages, "year": window.years}
        idata = az.from_dict(
            posterior={"drift": drift.reshape(shape), "sigma": np.sqrt(sigma2).reshape(shape)},
            dims={"drift": ["sex"], "sigma": ["sex"]},
            coords=coords,
        )
        idata.add_groups(
            constant_data=xr.Dataset(
                {
                    "a": (("sex", "age"), a),
                    "b": (("sex", "age"), b),
                    "k": (("sex", "year"), k),
                    "observed_deaths": (("year", "sex", "age"), window.deaths),
                    "exposure": (("year", "sex", "age"), window.exposure),
                },
                coords=coords,
            )
        )
        idata.posterior.attrs.update(
            {
                "fit_method": "svd",
                "component": self.name,
                "model": type(self).__name__,
                "options": json.dumps(asdict(self)),
            }
        )
        return idata

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """`years` after the fit period: k_s continues its random walk with drift from k_s(T) for each sex
        independently (normal innovations), drift and sigma drawn from their posterior; path i from
        fold_in(key, i) alone (`base.path_keys`). fixed: a, b (sex, age 0..100), shared by every path;
        series: k (draw, year, sex)."""
        fitted_years = constant_values(idata, "year")
        years = _check_years(years, int(fitted_years[-1]))
        horizon = int(years.max() - fitted_years[-1])
        index, keys = path_indices(paths), path_keys(key, paths)
        draws = posterior_draws(idata, keys, ["drift", "sigma"])
        with jax.enable_x64(False):  # float32 paths, as the coherent model's
            a, b, k = (
                jnp.asarray(constant_values(idata, name), dtype=jnp.float32) for name in ("a", "b", "k")
            )
            last = jnp.broadcast_to(k[:, -1], (index.size, k.shape[0]))
            pick = jnp.asarray(years - int(fitted_years[-1]) - 1)
            drift, sigma = (jnp.asarray(draws[name], dtype=jnp.float32) for name in ("drift", "sigma"))
            k = lee_carter_index_paths(last, drift, sigma, pick, keys, horizon)
        return Drivers({"a": a, "b": b}, {"k": k})

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> dict[str, Array]:
        """Rates (draw, sex, age 0..119) and e0 (draw, sex) of one year: exp(a + b k) (`mortality_values`)."""
        return mortality_values(fixed["a"] + fixed["b"] * step["k"][..., None])

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """Rates (draw, year, sex, age 0..119) and e0 (draw, year, sex) (`drivers`, `values`)."""
        return _forecast(self, idata, years, paths, key, "fitted")


def reestimate_indices(
    a: np.ndarray,
    b: np.ndarray,
    k: np.ndarray,
    deaths: np.ndarray,
    exposure: np.ndarray,
    iterations: int = 30,
) -> np.ndarray:
    """Lee-Carter's second stage: k(t) (sex, year) such that sum_x E exp(a + b k) = sum_x D each year
    (Newton's method, all sexes and years at once). a, b: (sex, age); deaths, exposure: (year, sex, age)."""
    exposure = np.moveaxis(exposure, 0, 1)  # (sex, year, age)
    total = np.moveaxis(deaths, 0, 1).sum(-1)
    k = k.copy()
    for _ in range(iterations):
        fitted = exposure * np.exp(a[:, None] + b[:, None] * k[..., None])
        k -= (fitted.sum(-1) - total) / (fitted * b[:, None]).sum(-1)
    return k
