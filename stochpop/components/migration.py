"""Migration components: net migration (cohort residual) and gross flows (immigration, emigration).

Both are a *level* process over years times an *age-sex schedule* (one time index, one age pattern, as in
Lee-Carter), fitted by NUTS (`base.fit_model`) and forecast by running the level process forward with
`jax.lax.scan` for every posterior draw at once.

* `NetMigrationModel`: total net migration T_t (thousands) is a stationary AR(1) with Student-t shocks;
  cells are T_t times a schedule w(sex, age) that sums to one and may be negative at some ages.
* `GrossMigrationModel`: immigration counts are exp(l_t) thousand times a positive (softmax) schedule,
  Poisson, l_t an AR(1) with Student-t shocks; emigration is a yearly hazard exp(lambda_t + g(sex, age)) on
  the population at risk (probability 1 - exp(-hazard)), Poisson counts, lambda_t an AR(1) with normal
  shocks. Like the net model's total, both levels are read off the yearly totals.

Schedules are cubic B-splines in age (`age_basis`; knots `schedule_knots`, dense at ages 0-3 and 14-33 where
migration changes fast): one coefficient vector per sex for net migration, a common schedule plus a smoother
sex difference for the gross flows (`sex_pooled_matrix`). Where a schedule is only defined up to a shift
(softmax, log-hazard offsets), an event-weighted sum-to-zero constraint fixes it, and the coefficients are
sampled in whitened coordinates around crude values (`ScheduleDesign`). Level priors are stated per
1000 residents (`unit` = thousands of persons per 1 per mille of the population at the end of the fit
period), so the defaults suit a country of any size.

Layout: pure transforms (`age_basis`, `ar1_recursion`, `schedule_values`, ...), the `AR1` distribution, the
NumPyro models (`net_migration_model`, `gross_migration_model`), then the component dataclasses.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from numpyro.distributions import constraints
from scipy.interpolate import BSpline

from stochpop.components.contract import Drivers, values_by_year
from stochpop.components.fitting import constant_values, fit_model
from stochpop.components.processes import AR1, ar1_conditionals, ar1_recursion, shock_df_prior
from stochpop.components.randomness import Paths, path_indices, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.conventions import KERNEL_AGES, MIGRATION_MAX_AGE, N_AGES, SEXES
from stochpop.data.container import CountryData
from stochpop.projection.rate_sets import aged_population

Array = jax.Array
DEFAULT_SETTINGS = FitSettings()

_SCHEDULE_KNOTS = (0, 1, 3, 6, 10, 14, 17, 20, 23, 26, 29, 33, 38, 44, 50, 60, 70, 85)
"""Interior knots of the schedule splines (ages); `schedule_knots` adds the top age."""
_DIFFERENCE_KNOTS = (0, 15, 30, 50)
"""Knots of the (smoother) sex difference of the gross schedules; `schedule_knots` adds the top age."""
_NOISE_KNOTS = (0, 15, 25, 35, 50, 65, 80, 95)
"""Knots of the piecewise-linear log observation sd of the net model."""
_NET_COEF_SD = 0.02
"""Prior sd of the net schedule's coefficients (share of the total per cell; Norway's peak is 0.024)."""
_LOGIT_COEF_SD = 3.0
"""Prior sd of the gross schedules' coefficients (log-share or log-hazard scale)."""
_NOISE_FLOOR = 0.001
"""Smallest observation sd of a net migration cell, thousands (one person)."""

NET_SCALARS = ("long_run_mean", "persistence", "shock_scale", "shock_df")
"""The scalar parameters of `net_migration_model`."""
GROSS_SCALARS = (
    "immigration_mean",
    "immigration_persistence",
    "immigration_shock_sd",
    "immigration_shock_df",
    "emigration_mean",
    "emigration_persistence",
    "emigration_shock_scale",
)
"""The scalar parameters of `gross_migration_model`."""
LEVEL_PARAMETERS = ("mean", "persistence", "shock_scale")
"""The AR(1) parameters of each gross flow's level (`immigration_mean`, ...) that forecasts use."""
SCHEDULES = ("immigration_schedule", "emigration_schedule")


# ---------------------------------------------------------------------------------------------------------
# Pure transforms
# ---------------------------------------------------------------------------------------------------------


def schedule_knots(max_age: int, base: Sequence[int] = _SCHEDULE_KNOTS, min_gap: int = 3) -> np.ndarray:
    """Knots for ages 0..max_age: those of `base` at least `min_gap` below max_age, then max_age."""
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


def emigration_probabilities(level: Array, offsets: Array) -> Array:
    """Probabilities (..., 2, A) = 1 - exp(-exp(level (...) + offsets (..., 2, A))), a yearly hazard."""
    return -jnp.expm1(-jnp.exp(level[..., None, None] + offsets))


# ---------------------------------------------------------------------------------------------------------
# NumPyro models
# ---------------------------------------------------------------------------------------------------------


def net_migration_model(
    basis: Array,
    noise_basis: Array,
    unit: Array,
    total: Array,
    observed: Array | None = None,
) -> None:
    """Net migration by year, sex and age, thousands of persons.

    Level: the yearly total T_t, a stationary AR(1) with Student-t shocks,
        T_1 ~ t_nu(mu, sigma / sqrt(1 - phi^2)),  T_t = mu + phi (T_{t-1} - mu) + sigma e_t,  e_t ~ t_nu.
    Schedule: w(s, a) = sum_k B_k(a) beta_{s,k} (cubic B-splines), unconstrained in sign.
    Cells, given the year's total:
        y(t, s, a) ~ Normal(T_t w(s, a), sqrt(omega(s, a)^2 + 0.001^2)),
        log omega(s, ·) piecewise linear in age for each sex (`noise_basis`), plus a one-person floor.
    The forecast uses w / sum(w) (`schedule`, summing to one; sum(w) is 1 within a fraction of a percent).
    Priors (u = `unit`, thousands of persons per 1 per mille of the population):
        mu ~ Normal(0, 5u): weakly informative, centred on zero net migration with sd 5 per 1000
            residents a year (every European country's 1990-2020 average lies within 2 sd);
        phi ~ Beta(2, 1.5) (persistent, stationary); sigma ~ HalfNormal(2u); nu ~ 2 + Gamma(2, 0.1);
        beta = 0.02 z and log omega knots = log 0.05 + 1.5 z' (50 persons), z, z' ~ Normal(0, 1)
        (`schedule_coef`, `noise_coef`: standardised, so NUTS starts from sensible values).
    total: (T,) thousands; observed: (T, 2, A) thousands, or None to simulate.
    """
    mu = numpyro.sample("long_run_mean", dist.Normal(0.0, 5.0 * unit))
    phi = numpyro.sample("persistence", dist.Beta(2.0, 1.5))
    sigma = numpyro.sample("shock_scale", dist.HalfNormal(2.0 * unit))
    nu = numpyro.sample("shock_df", shock_df_prior())
    numpyro.sample("total", AR1(mu, phi, sigma, total.shape[0], df=nu), obs=total)
    z = numpyro.sample("schedule_coef", dist.Normal().expand([len(SEXES), basis.shape[1]]).to_event(2))
    w = spline_values(_NET_COEF_SD * z, basis)
    numpyro.deterministic("schedule", w / w.sum())
    z_noise = numpyro.sample(
        "noise_coef", dist.Normal().expand([len(SEXES), noise_basis.shape[1]]).to_event(2)
    )
    log_omega = spline_values(np.log(0.05) + 1.5 * z_noise, noise_basis)
    sd = jnp.sqrt(jnp.exp(2.0 * log_omega) + _NOISE_FLOOR**2)
    numpyro.deterministic("noise_sd", sd)
    numpyro.sample("net_migration", dist.Normal(total[:, None, None] * w, sd).to_event(3), obs=observed)


@jax.jit
def multinomial_log_ratio(counts: Array, log_probs: Array) -> Array:
    """sum over cells of counts * (log p - log(counts / year total)) for counts (T, 2, A) and log cell
    probabilities log_probs (broadcasting to (T, 2, A), summing (exp) to one in each year): the
    multinomial log-likelihood of the cells given each year's total, up to a constant, in a form whose
    float32 sum keeps its precision (the full log-pmf carries lgamma terms whose rounding alone is ~1)."""
    total = counts.sum((-2, -1), keepdims=True)
    share = jnp.where(counts > 0, counts / jnp.maximum(total, 1.0), 1.0)
    return jnp.where(counts > 0, counts * (log_probs - jnp.log(share)), 0.0).sum()


@jax.jit
def emigration_log_shares(log_at_risk: Array, offsets: Array) -> Array:
    """Log shares (T, 2, A) of each year's emigrations by cell under a log-hazard schedule g (2, A):
    log(N exp(g) / sum N exp(g)), log_at_risk (T, 2, A)."""
    log_mass = log_at_risk + offsets
    return log_mass - jax.nn.logsumexp(log_mass, axis=(-2, -1), keepdims=True)


def gross_design(
    matrix: np.ndarray, immigration: np.ndarray, emigration: np.ndarray, at_risk: np.ndarray
) -> dict[str, Any]:
    """Fixed inputs of `gross_migration_model` from the data (T, 2, A) each and a schedule matrix (2A, P)
    (`sex_pooled_matrix`): the two `ScheduleDesign`s and the observed yearly levels (log immigrations in
    thousands, log emigrations)."""
    imm_cells, emi_cells, risk_cells = immigration.sum(0), emigration.sum(0), at_risk.sum(0)
    log_hazard = np.log(emi_cells + 0.5) - np.log(risk_cells + 0.5)
    emigration_design = schedule_design(matrix, emi_cells, log_hazard, _LOGIT_COEF_SD)
    log_at_risk = np.log(np.maximum(at_risk, 1e-3))
    crude = (matrix @ emigration_design.null @ emigration_design.centre).reshape(len(SEXES), -1)
    return {
        "immigration_design": schedule_design(matrix, imm_cells, np.log(imm_cells + 0.5), _LOGIT_COEF_SD),
        "emigration_design": emigration_design,
        "immigration_level": np.log(np.maximum(immigration.sum((1, 2)), 0.5) / 1000.0),
        "emigration_level": level_from_total(emigration, log_at_risk, crude),
        "log_at_risk": log_at_risk,
    }


def level_from_total(emigration: np.ndarray, log_at_risk: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The yearly level lambda_t (T,) that reproduces each year's total emigrations under the log-hazard
    schedule `offsets` (2, A): log E_t - log sum_{s,a} N(t, s, a) exp(g(s, a))."""
    log_mass = np.logaddexp.reduce((log_at_risk + offsets).reshape(len(log_at_risk), -1), axis=1)
    return np.log(np.maximum(emigration.sum((1, 2)), 0.5)) - log_mass


def gross_migration_model(
    immigration_design: ScheduleDesign,
    emigration_design: ScheduleDesign,
    immigration_level: Array,
    emigration_level: Array,
    log_at_risk: Array,
    unit: Array,
    immigration: Array,
    emigration: Array,
) -> None:
    """Immigration counts and emigrations by year, sex and age (`gross_design` prepares the inputs).

    Schedules pool the sexes (`sex_pooled_matrix`): a common cubic spline in age plus half / minus half a
    smoother spline for the sex difference.
    Immigration: I(t, s, a) ~ Poisson(1000 exp(l_t) w(s, a)), shares w = softmax over (s, a) of a schedule
        h(s, a). This factorises exactly into the yearly total, Poisson with mean
        1000 exp(l_t), and the cells given the total, Multinomial(I_t, w). The level l_t (log thousands) is
        taken as observed, log(I_t / 1000) (its Poisson sd, 1/sqrt(I_t), is well below the year-to-year
        shocks), and follows a stationary AR(1) with Student-t shocks,
        l_t = m_I + phi_I (l_{t-1} - m_I) + sigma_I e_t, e_t ~ t_nu.
    Emigration: a hazard on the population at risk N (the 1 January stock aged one year,
        `rates.aged_population`): E(t, s, a) ~ Poisson(N(t, s, a) exp(lambda_t + g(s, a))), probability of
        emigrating in the year p = 1 - exp(-exp(lambda_t + g)), g a schedule. Likewise: the
        cells given the year's total are multinomial with shares prop. to N exp(g), and lambda_t is read
        off the total: the level that reproduces it under the crude schedule (`level_from_total`, within
        a fraction of a percent of the level under any posterior schedule), taken as observed; it follows
        a stationary AR(1) with normal shocks (m_E, phi_E, sigma_E).
    Identification: sum_{s,a} n(s, a) h(s, a) = 0 and sum_{s,a} e(s, a) g(s, a) = 0 with n, e the observed
        immigrations and emigrations by cell summed over years (plus 0.5), so lambda_t is close to the
        event-weighted mean log hazard and both schedules are orthogonal to their levels.
    Priors (u = `unit`, thousands per 1 per mille of the population):
        m_I ~ Normal(log 5u, 1.5) (median 5 immigrants per 1000 residents a year, 95%: 0.3-95);
        phi_I, phi_E ~ Beta(2, 1.5); nu ~ 2 + Gamma(2, 0.1); the shocks' sd
        sigma_I sqrt(nu / (nu - 2)) ~ HalfNormal(0.3) (a prior on the sd rather than the t scale keeps the
        posterior free of the banana between scale and nu that heavy tails otherwise bring);
        m_E ~ Normal(-4.5, 2) (log hazard: median 1.1% a year); sigma_E ~ HalfNormal(0.2);
        schedule coefficients ~ Normal(0, 3) on their constraint plane (`schedule_coefficients`, sampled
        in whitened coordinates). Cell likelihoods enter as float32-safe factors
        (`multinomial_log_ratio`).
    immigration_level, emigration_level: (T,); log_at_risk, immigration, emigration: (T, 2, A).
    """
    n = immigration_level.shape[0]
    m_i = numpyro.sample("immigration_mean", dist.Normal(jnp.log(5.0 * unit), 1.5))
    phi_i = numpyro.sample("immigration_persistence", dist.Beta(2.0, 1.5))
    sd_i = numpyro.sample("immigration_shock_sd", dist.HalfNormal(0.3))
    nu_i = numpyro.sample("immigration_shock_df", shock_df_prior())
    sigma_i = numpyro.deterministic("immigration_shock_scale", sd_i * jnp.sqrt((nu_i - 2.0) / nu_i))
    numpyro.sample("immigration_level", AR1(m_i, phi_i, sigma_i, n, df=nu_i), obs=immigration_level)
    beta_i = schedule_coefficients("immigration_schedule_coef", immigration_design, _LOGIT_COEF_SD)
    log_w = log_shares(schedule_values(beta_i, immigration_design.matrix))
    numpyro.deterministic("immigration_schedule", jnp.exp(log_w))
    numpyro.factor("immigration_cells", multinomial_log_ratio(immigration, log_w))

    m_e = numpyro.sample("emigration_mean", dist.Normal(-4.5, 2.0))
    phi_e = numpyro.sample("emigration_persistence", dist.Beta(2.0, 1.5))
    sigma_e = numpyro.sample("emigration_shock_scale", dist.HalfNormal(0.2))
    numpyro.sample("emigration_level", AR1(m_e, phi_e, sigma_e, n), obs=emigration_level)
    beta_e = schedule_coefficients("emigration_schedule_coef", emigration_design, _LOGIT_COEF_SD)
    offsets = numpyro.deterministic("emigration_schedule", schedule_values(beta_e, emigration_design.matrix))
    numpyro.factor(
        "emigration_cells", multinomial_log_ratio(emigration, emigration_log_shares(log_at_risk, offsets))
    )


# ---------------------------------------------------------------------------------------------------------
# Shared by the components
# ---------------------------------------------------------------------------------------------------------


def _fit_years(available: np.ndarray, first_year: int | None, last_year: int | None, what: str) -> np.ndarray:
    """The years of `available` in [first_year, last_year] (default: all); consecutive, at least 5."""
    lo = int(available.min() if first_year is None else first_year)
    hi = int(available.max() if last_year is None else last_year)
    missing = sorted(set(range(lo, hi + 1)) - set(np.asarray(available).tolist()))
    if missing:
        raise ValueError(f"{what}: no data for years {missing} (fit period {lo}-{hi})")
    if hi - lo + 1 < 5:
        raise ValueError(f"{what}: the fit period {lo}-{hi} has fewer than 5 years")
    return np.arange(lo, hi + 1)


def _reference_population(data: CountryData, last_year: int) -> float:
    """Total population on 1 January after the fit period (or of its last year), persons."""
    year = last_year + 1 if last_year + 1 in data.population["year"].values else last_year
    return float(data.population.sel(year=year).sum())


def _forecast_index(years: Sequence[int], last_year: int) -> tuple[np.ndarray, np.ndarray]:
    """Requested years and their step index (0 = the year after `last_year`); all must be later."""
    years = np.asarray(years, dtype=int)
    if years.size == 0 or years.min() <= last_year:
        raise ValueError(f"forecast years must all come after the fit period's last year {last_year}")
    return years, years - last_year - 1


_ar1_paths = jax.jit(ar1_recursion)
"""`ar1_recursion` compiled once per shape: forecasts call it with (draw,) parameters."""


def _simulate_paths(
    keys: Array,
    stream: int,
    start: np.ndarray,
    loc: np.ndarray,
    persistence: np.ndarray,
    scale: np.ndarray,
    df: np.ndarray | None,
    index: np.ndarray,
) -> np.ndarray:
    """AR(1) paths (path, len(index)) from `start` (path,), steps `index` after it; vectorised over paths.

    Shocks: Student-t with `df` (path,) or normal if None, from each path's key (`base.path_shocks`).
    """
    shocks = path_shocks(keys, stream, (int(index.max()) + 1,), df)
    args = (np.asarray(a, dtype=np.float32) for a in (start, loc, persistence, scale))
    return np.asarray(_ar1_paths(*args, shocks.T))[index].T


def _one_step_replicates(
    rng: np.random.Generator,
    value: np.ndarray,
    loc: np.ndarray,
    persistence: np.ndarray,
    scale: np.ndarray,
    df: np.ndarray | None,
) -> np.ndarray:
    """One-step-ahead replicates (draw, T) of an AR(1) series `value` ((T,) or (draw, T)) given its past."""
    mean, sd = (np.asarray(a) for a in ar1_conditionals(jnp.asarray(value), loc, persistence, scale))
    shape = np.broadcast_shapes(mean.shape, (loc.shape[0], mean.shape[-1]))
    e = rng.standard_normal(shape) if df is None else rng.standard_t(df[:, None], shape)
    return mean + sd * e


def _interval_share(observed: np.ndarray, replicates: np.ndarray, level: float = 0.9) -> float:
    """Share of `observed` values inside the central `level` interval of `replicates` (draw, ...)."""
    lo, hi = np.quantile(replicates, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return float(np.mean((observed >= lo) & (observed <= hi)))


def _pad_ages(values: np.ndarray, ages: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """(..., len(ages)) -> (..., 120) on ages 0..119; ages not in `ages` get `fill`."""
    out = np.full((*values.shape[:-1], N_AGES), fill, dtype=np.float32)
    out[..., ages] = values
    return out


def _labelled(values: np.ndarray, years: np.ndarray, ages: np.ndarray, **attrs: Any) -> xr.DataArray:
    return xr.DataArray(
        values,
        dims=("year", "sex", "age"),
        coords={"year": years, "sex": list(SEXES), "age": ages},
        attrs=attrs,
    )


# ---------------------------------------------------------------------------------------------------------
# Net migration
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetMigrationModel:
    """Bayesian net migration by sex and age (`net_migration_model`), fitted to the cohort-residual net
    migration `CountryData.net_migration` of years first_year..last_year (default: all).

    max_age: oldest age fitted and forecast (None: every age of the data); older ages get zero.
    `forecast` runs the total's AR(1) on from the last fitted year and spreads each path by its draw's
    schedule: parameter uncertainty (posterior draws) plus process uncertainty (t shocks). The cells'
    observation noise (registration and residual-method error) is not added to forecasts.
    """

    first_year: int | None = None
    last_year: int | None = None
    max_age: int | None = None
    name: str = "migration"

    def observations(self, data: CountryData) -> xr.DataArray:
        """The residual net migration (year, sex, age) persons that `fit` uses."""
        net = data.net_migration
        years = _fit_years(net["year"].values, self.first_year, self.last_year, f"{data.name} net migration")
        net = net.sel(year=years)
        return net if self.max_age is None else net.sel(age=slice(0, self.max_age))

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_SETTINGS) -> az.InferenceData:
        """Fit to `data`'s residual net migration (see `fit_observed`)."""
        observed = self.observations(data)
        population = _reference_population(data, int(observed["year"].values[-1]))
        return self.fit_observed(observed, population, settings, country=data.name)

    def fit_observed(
        self,
        net_migration: xr.DataArray,
        population: float,
        settings: FitSettings = DEFAULT_SETTINGS,
        country: str = "",
    ) -> az.InferenceData:
        """Fit to net migration (year, sex, age) persons; `population` (persons) scales the level priors.

        NUTS always adapts a dense mass matrix here: neighbouring spline coefficients of the schedule are
        strongly correlated (on Norway 1990-2017 it raises the smallest bulk ESS from ~850 to ~1200).

        InferenceData: posterior (the parameters, `schedule` (sex, age) summing to one, `noise_sd`),
        observed_data, and constant_data with `total` (year, thousands), `last_year`, `population`, `unit`.
        """
        net = net_migration.transpose("year", "sex", "age")
        years, ages = net["year"].values, net["age"].values
        design = self.design(ages)
        unit = population / 1e6
        total = net.sum(("sex", "age")).values / 1000.0
        coords = {
            "year": years,
            "sex": list(SEXES),
            "age": ages,
            "coef": np.arange(design["basis"].shape[1]),
            "noise_knot": np.arange(design["noise_basis"].shape[1]),
        }
        dims = {
            "schedule_coef": ["sex", "coef"],
            "schedule": ["sex", "age"],
            "noise_coef": ["sex", "noise_knot"],
            "noise_sd": ["sex", "age"],
            "total": ["year"],
            "net_migration": ["year", "sex", "age"],
        }
        constant_data = {
            "total": xr.DataArray(total, dims="year", coords={"year": years}, attrs={"units": "thousands"}),
            "last_year": xr.DataArray(int(years[-1])),
            "population": xr.DataArray(population, attrs={"units": "persons"}),
            "unit": xr.DataArray(unit, attrs={"units": "thousands of persons per 1 per 1000 residents"}),
        }
        return fit_model(
            net_migration_model,
            {**design, "unit": unit, "total": total, "observed": net.values / 1000.0},
            replace(settings, dense_mass=True),
            coords,
            dims,
            constant_data,
            check=[*NET_SCALARS, "schedule_coef", "noise_coef"],
            attrs={"component": f"{self.name} (net)", "country": country, "units": "thousands of persons"},
        )

    @staticmethod
    def design(ages: np.ndarray) -> dict[str, np.ndarray]:
        """Fixed model inputs for ages 0..max(ages): the schedule and noise spline bases (age, basis)."""
        top = int(np.max(ages))
        return {
            "basis": age_basis(ages, schedule_knots(top)),
            "noise_basis": age_basis(ages, schedule_knots(top, _NOISE_KNOTS, 5), degree=1),
        }

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """Paths after the fit period (path i depends on fold_in(key, i) alone, `base.path_keys`): the
        total's AR(1) runs on from the last fitted year. fixed: schedule (draw, sex, age 0..119) of each
        path's posterior draw, summing to one (zero above the fitted ages); series: total_net (draw, year)
        persons."""
        years, index = _forecast_index(years, int(constant_values(idata, "last_year")))
        keys = path_keys(key, paths)
        p = posterior_draws(idata, keys, [*NET_SCALARS, "schedule"])
        start = np.full(keys.shape[0], constant_values(idata, "total")[-1], dtype=np.float32)
        total = 1000.0 * _simulate_paths(
            keys, 1, start, p["long_run_mean"], p["persistence"], p["shock_scale"], p["shock_df"], index
        )
        schedule = _pad_ages(p["schedule"], idata.posterior["age"].values)
        return Drivers({"schedule": jnp.asarray(schedule)}, {"total_net": jnp.asarray(total, jnp.float32)})

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> dict[str, Array]:
        """One year's net_migration (draw, sex, age) persons by age at end of year and total_net (draw,)."""
        total = step["total_net"]
        return {"net_migration": total[..., None, None] * fixed["schedule"], "total_net": total}

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """net_migration (draw, year, sex, age 0..119) and total_net (draw, year) persons of `drivers`;
        `draw` holds the path indices."""
        values = values_by_year(self, self.drivers(idata, years, paths, key))
        return xr.Dataset(
            {
                "net_migration": (("draw", "year", "sex", "age"), np.asarray(values["net_migration"])),
                "total_net": (("draw", "year"), np.asarray(values["total_net"])),
            },
            coords={"draw": path_indices(paths), "year": years, "sex": list(SEXES), "age": KERNEL_AGES},
            attrs={"units": "persons", "age": "age at end of year", "component": self.name},
        )

    def posterior_predictive_check(
        self, idata: az.InferenceData, data: CountryData | xr.DataArray, n_draws: int = 1000, seed: int = 0
    ) -> dict[str, float]:
        """Shares of observed cells, and of yearly totals, inside their 90% posterior predictive intervals.

        Cells: replicated given the year's total (the model's likelihood); totals: one step ahead given the
        previous year's. `data`: the CountryData fitted, or the DataArray given to `fit_observed`.
        """
        years, ages = idata.constant_data["year"].values, idata.posterior["age"].values
        observed = data.net_migration if isinstance(data, CountryData) else data
        observed = observed.sel(year=years, age=ages).transpose("year", "sex", "age").values / 1000.0
        total = observed.sum((1, 2))
        rng = np.random.default_rng(seed)
        p = posterior_draws(idata, path_keys(jax.random.PRNGKey(seed), n_draws))
        w = spline_values(_NET_COEF_SD * p["schedule_coef"], self.design(ages)["basis"])
        cells = total[:, None, None] * w[:, None] + p["noise_sd"][:, None] * rng.standard_normal(
            (n_draws, *observed.shape)
        )
        totals = _one_step_replicates(
            rng, total, p["long_run_mean"], p["persistence"], p["shock_scale"], p["shock_df"]
        )
        return {"cells": _interval_share(observed, cells), "totals": _interval_share(total, totals)}

    @staticmethod
    def simulate(parameters: Mapping[str, Any], years: Sequence[int], key: Array) -> xr.DataArray:
        """Net migration (year, sex, age) persons from known parameters, in the model's units (thousands).

        parameters: long_run_mean, persistence, shock_scale, shock_df (scalars); schedule (2, A), summing
        to one; noise_sd (2, A). Totals follow the AR(1) from its stationary law; cell noise is centred so
        that the cells add up to the total (the fitted model conditions on the totals).
        """
        years = np.asarray(years)
        k_total, k_noise = jax.random.split(key)
        total = AR1(
            parameters["long_run_mean"],
            parameters["persistence"],
            parameters["shock_scale"],
            years.size,
            df=parameters["shock_df"],
        ).sample(k_total)
        w = jnp.asarray(parameters["schedule"])
        w = w / w.sum()
        noise = jnp.asarray(parameters["noise_sd"]) * jax.random.normal(k_noise, (years.size, *w.shape))
        noise = noise - w * noise.sum((1, 2), keepdims=True)
        cells = total[:, None, None] * w + noise
        return _labelled(1000.0 * np.asarray(cells), years, np.arange(w.shape[-1]), units="persons")


# ---------------------------------------------------------------------------------------------------------
# Gross migration
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrossMigrationModel:
    """Bayesian immigration counts and emigration probabilities by sex and age (`gross_migration_model`),
    fitted to the gross flows of `CountryData` (immigration, emigration) with the population at risk
    `rates.aged_population`, years first_year..last_year (default: all with flows).

    max_age: oldest age with migration (default `conventions.MIGRATION_MAX_AGE`, None: every age of the
    data); older ages get no immigrants and emigration probability zero. Forecasts carry parameter and
    process (level shock) uncertainty; immigration is the expected count of each path (no Poisson noise).
    """

    first_year: int | None = None
    last_year: int | None = None
    max_age: int | None = MIGRATION_MAX_AGE
    name: str = "migration"

    def observations(self, data: CountryData) -> xr.Dataset:
        """immigration, emigration (counts) and at_risk (persons), (year, sex, age), as `fit` uses them."""
        if data.immigration is None or data.emigration is None:
            raise ValueError(
                f"{data.name}: GrossMigrationModel needs gross flows (CountryData.immigration and "
                "CountryData.emigration), but the data have none; use NetMigrationModel"
            )
        available = np.intersect1d(data.immigration["year"], data.emigration["year"])
        available = available[
            np.isin(available, data.population["year"]) & np.isin(available, data.births["year"])
        ]
        years = _fit_years(available, self.first_year, self.last_year, f"{data.name} gross migration")
        out = xr.Dataset(
            {
                "immigration": data.immigration.sel(year=years),
                "emigration": data.emigration.sel(year=years),
                "at_risk": aged_population(data, years),
            }
        )
        return out if self.max_age is None else out.sel(age=slice(0, self.max_age))

    def fit(self, data: CountryData, settings: FitSettings = DEFAULT_SETTINGS) -> az.InferenceData:
        """Fit to `data`'s gross flows (see `fit_observed`); ValueError if it has none."""
        obs = self.observations(data)
        population = _reference_population(data, int(obs["year"].values[-1]))
        return self.fit_observed(
            obs["immigration"], obs["emigration"], obs["at_risk"], population, settings, country=data.name
        )

    def fit_observed(
        self,
        immigration: xr.DataArray,
        emigration: xr.DataArray,
        at_risk: xr.DataArray,
        population: float,
        settings: FitSettings = DEFAULT_SETTINGS,
        country: str = "",
    ) -> az.InferenceData:
        """Fit to immigration and emigration counts and the population at risk, (year, sex, age) each.

        InferenceData: posterior (parameters, `immigration_schedule` shares, `emigration_schedule` log-hazard
        offsets g with sum(emigration_weight * g) = 0), observed_data (the yearly levels), constant_data
        with the observations, `immigration_level` (year, log thousands), `emigration_level` (year, log
        hazard), `emigration_weight` (sex, age), `last_year`, `population` and `unit`.
        """
        imm, emi, risk = (a.transpose("year", "sex", "age") for a in (immigration, emigration, at_risk))
        years, ages = imm["year"].values, imm["age"].values
        if np.any(emi.values > risk.values):
            raise ValueError("emigration exceeds the population at risk in some cells")
        design = self.design(ages, imm.values, emi.values, risk.values)
        unit = population / 1e6
        n_coef = design["immigration_design"].matrix.shape[1]
        coords = {
            "year": years,
            "sex": list(SEXES),
            "age": ages,
            "coef": np.arange(n_coef),
            "free_coef": np.arange(n_coef - 1),
        }
        dims = {
            "immigration_level": ["year"],
            "emigration_level": ["year"],
            "immigration_schedule_coef": ["coef"],
            "emigration_schedule_coef": ["coef"],
            "immigration_schedule_coef_z": ["free_coef"],
            "emigration_schedule_coef_z": ["free_coef"],
            "immigration_schedule": ["sex", "age"],
            "emigration_schedule": ["sex", "age"],
        }
        constant_data = {
            "immigration": imm.astype(float),
            "emigration": emi.astype(float),
            "at_risk": risk.astype(float),
            "immigration_level": xr.DataArray(
                design["immigration_level"],
                dims="year",
                coords={"year": years},
                attrs={"units": "log thousands"},
            ),
            "emigration_level": xr.DataArray(
                design["emigration_level"], dims="year", coords={"year": years}, attrs={"units": "log hazard"}
            ),
            "emigration_weight": emi.sum("year").astype(float) + 0.5,
            "last_year": xr.DataArray(int(years[-1])),
            "population": xr.DataArray(population, attrs={"units": "persons"}),
            "unit": xr.DataArray(unit, attrs={"units": "thousands of persons per 1 per 1000 residents"}),
        }
        return fit_model(
            gross_migration_model,
            {
                **design,
                "unit": unit,
                "immigration": imm.values.astype(float),
                "emigration": emi.values.astype(float),
            },
            settings,
            coords,
            dims,
            constant_data,
            check=[*GROSS_SCALARS, "immigration_schedule_coef_z", "emigration_schedule_coef_z"],
            attrs={"component": f"{self.name} (gross)", "country": country},
        )

    @staticmethod
    def design(
        ages: np.ndarray, immigration: np.ndarray, emigration: np.ndarray, at_risk: np.ndarray
    ) -> dict[str, Any]:
        """Fixed model inputs (`gross_design`) for ages 0..max(ages): sex-pooled schedules on the cubic
        spline basis `schedule_knots`, the sex difference on `_DIFFERENCE_KNOTS`."""
        top = int(np.max(ages))
        matrix = sex_pooled_matrix(
            age_basis(ages, schedule_knots(top)), age_basis(ages, schedule_knots(top, _DIFFERENCE_KNOTS, 10))
        )
        return gross_design(matrix, immigration, emigration, at_risk)

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers:
        """Paths after the fit period (keyed as in `base.path_keys`): the immigration and emigration levels'
        AR(1)s run on from the last fitted year. fixed: immigration shares and emigration log-hazard offsets
        (draw, sex, age 0..119; zero and -inf above the fitted ages) and the last fitted year's population at
        risk (sex, age); series: total_immigration (draw, year) persons and emigration_level (draw, year)."""
        years, index = _forecast_index(years, int(constant_values(idata, "last_year")))
        keys = path_keys(key, paths)
        levels = [f"{flow}_{name}" for flow in ("immigration", "emigration") for name in LEVEL_PARAMETERS]
        p = posterior_draws(idata, keys, [*levels, "immigration_shock_df", *SCHEDULES])
        ages = idata.posterior["age"].values
        n = keys.shape[0]
        level_i = _simulate_paths(
            keys,
            1,
            np.full(n, constant_values(idata, "immigration_level")[-1], dtype=np.float32),
            p["immigration_mean"],
            p["immigration_persistence"],
            p["immigration_shock_scale"],
            p["immigration_shock_df"],
            index,
        )
        level_e = _simulate_paths(
            keys,
            2,
            np.full(n, constant_values(idata, "emigration_level")[-1], dtype=np.float32),
            p["emigration_mean"],
            p["emigration_persistence"],
            p["emigration_shock_scale"],
            None,
            index,
        )
        fixed = {
            "shares": _pad_ages(p["immigration_schedule"], ages),
            "offsets": _pad_ages(p["emigration_schedule"], ages, fill=-np.inf),
            "at_risk": _pad_ages(constant_values(idata, "at_risk")[-1], ages),
        }
        series = {"total_immigration": 1000.0 * np.exp(level_i), "emigration_level": level_e}
        f32 = lambda tree: jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), tree)  # noqa: E731
        return Drivers(f32(fixed), f32(series))

    def values(self, fixed: dict[str, Array], step: dict[str, Array]) -> dict[str, Array]:
        """One year by age at end of year: immigration (draw, sex, age) persons, emigration (draw, sex, age)
        probabilities, total_immigration (draw,) persons and total_emigration (draw,): the emigrations these
        probabilities give on the last fitted year's population at risk (the kernel applies them to the
        projected population)."""
        total = step["total_immigration"]
        emigration = emigration_probabilities(step["emigration_level"], fixed["offsets"])
        return {
            "immigration": total[..., None, None] * fixed["shares"],
            "emigration": emigration,
            "total_immigration": total,
            "total_emigration": (emigration * fixed["at_risk"]).sum((-2, -1)),
        }

    def forecast(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> xr.Dataset:
        """The `values` of `drivers` for every year (`draw`: the path indices; by age 0..119)."""
        values = values_by_year(self, self.drivers(idata, years, paths, key))
        cells, totals = ("draw", "year", "sex", "age"), ("draw", "year")
        return xr.Dataset(
            {name: (cells if v.ndim == 4 else totals, np.asarray(v)) for name, v in values.items()},
            coords={"draw": path_indices(paths), "year": years, "sex": list(SEXES), "age": KERNEL_AGES},
            attrs={
                "age": "age at end of year",
                "component": self.name,
                "units": "immigration: persons; emigration: probability for the aged population",
            },
        )

    def posterior_predictive_check(
        self, idata: az.InferenceData, data: CountryData | xr.Dataset, n_draws: int = 500, seed: int = 0
    ) -> dict[str, float]:
        """Shares of observed cells and yearly totals inside their 90% posterior predictive intervals, for
        immigration and emigration. Cells: Poisson replicates given the year's level (the model's
        likelihood); totals: the level one step ahead given the previous year's. `data`: the CountryData
        fitted, or a Dataset with immigration, emigration and at_risk as from `observations`."""
        years, ages = idata.constant_data["year"].values, idata.posterior["age"].values
        obs = data if isinstance(data, xr.Dataset) else GrossMigrationModel(max_age=None).observations(data)
        obs = obs.sel(year=years, age=ages).transpose("year", "sex", "age")
        imm, emi, risk = (obs[v].values for v in ("immigration", "emigration", "at_risk"))
        rng = np.random.default_rng(seed)
        p = posterior_draws(idata, path_keys(jax.random.PRNGKey(seed), n_draws))
        shares, offsets = p["immigration_schedule"][:, None], p["emigration_schedule"][:, None]
        level_i = np.log(np.maximum(imm.sum((1, 2)), 0.5) / 1000.0)
        step_i = _one_step_replicates(
            rng,
            level_i,
            p["immigration_mean"],
            p["immigration_persistence"],
            p["immigration_shock_scale"],
            p["immigration_shock_df"],
        )
        level_e = constant_values(idata, "emigration_level")
        step_e = _one_step_replicates(
            rng,
            level_e,
            p["emigration_mean"],
            p["emigration_persistence"],
            p["emigration_shock_scale"],
            None,
        )
        hazard = risk * np.exp(offsets)
        return {
            "immigration_cells": _interval_share(
                imm, rng.poisson(1000.0 * np.exp(level_i)[:, None, None] * shares)
            ),
            "emigration_cells": _interval_share(emi, rng.poisson(hazard * np.exp(level_e)[:, None, None])),
            "immigration_totals": _interval_share(imm.sum((1, 2)), rng.poisson(1000.0 * np.exp(step_i))),
            "emigration_totals": _interval_share(
                emi.sum((1, 2)), rng.poisson((hazard * np.exp(step_e)[..., None, None]).sum((2, 3)))
            ),
        }

    @staticmethod
    def simulate(parameters: Mapping[str, Any], at_risk: xr.DataArray, key: Array) -> xr.Dataset:
        """Immigration and emigration counts (year, sex, age) from known parameters on `at_risk` (persons).

        parameters: immigration_mean (log thousands), immigration_persistence, immigration_shock_scale,
        immigration_shock_df, immigration_schedule (2, A) shares; emigration_mean (log hazard),
        emigration_persistence, emigration_shock_scale, emigration_schedule (2, A) log-hazard offsets.
        Levels start from their stationary laws; immigrations are Poisson, emigrations binomial with
        probability 1 - exp(-hazard). Returns a Dataset like `observations` (with the true levels).
        """
        risk = at_risk.transpose("year", "sex", "age")
        n = risk.sizes["year"]
        k_li, k_le, k_i, k_e = jax.random.split(key, 4)
        level_i = AR1(
            parameters["immigration_mean"],
            parameters["immigration_persistence"],
            parameters["immigration_shock_scale"],
            n,
            df=parameters["immigration_shock_df"],
        ).sample(k_li)
        level_e = AR1(
            parameters["emigration_mean"],
            parameters["emigration_persistence"],
            parameters["emigration_shock_scale"],
            n,
        ).sample(k_le)
        shares = jnp.asarray(parameters["immigration_schedule"])
        shares = shares / shares.sum()
        rate = 1000.0 * jnp.exp(level_i)[:, None, None] * shares
        probability = -jnp.expm1(
            -jnp.exp(level_e[:, None, None] + jnp.asarray(parameters["emigration_schedule"]))
        )
        immigration = dist.Poisson(rate).sample(k_i)
        emigration = dist.Binomial(jnp.asarray(risk.values, dtype=jnp.int32), probs=probability).sample(k_e)
        years, ages = risk["year"].values, risk["age"].values
        return xr.Dataset(
            {
                "immigration": _labelled(np.asarray(immigration, dtype=float), years, ages, units="persons"),
                "emigration": _labelled(np.asarray(emigration, dtype=float), years, ages, units="persons"),
                "at_risk": risk,
                "immigration_level": ("year", np.asarray(level_i)),
                "emigration_level": ("year", np.asarray(level_e)),
            }
        )
