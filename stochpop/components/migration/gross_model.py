"""The gross migration model: its NumPyro model, fixed inputs and data-generating process.

Immigration counts are exp(l_t) thousand times a positive (softmax) schedule, Poisson, l_t an AR(1) with
Student-t shocks; emigration is a yearly hazard exp(lambda_t + g(sex, age)) on the population at risk
(probability 1 - exp(-hazard)), Poisson counts, lambda_t an AR(1) with normal shocks. Both levels are read
off the yearly totals.
"""

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from stochpop.components.migration.schedules import (
    ScheduleDesign,
    age_basis,
    log_shares,
    schedule_coefficients,
    schedule_design,
    schedule_knots,
    schedule_values,
    sex_pooled_matrix,
)
from stochpop.components.processes import AR1, shock_df_prior
from stochpop.conventions import SEXES

Array = jax.Array

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
"""The schedules of `gross_migration_model`: immigration shares, emigration log-hazard offsets (sex, age)."""
DIFFERENCE_KNOTS = (0, 15, 30, 50)
"""Knots of the (smoother) sex difference of the gross schedules (ages); `schedule_knots` adds the top age."""
_LOGIT_COEF_SD = 3.0
"""Prior sd of the gross schedules' coefficients (log-share or log-hazard scale)."""


def emigration_probabilities(level: Array, offsets: Array) -> Array:
    """Probabilities (..., 2, A) = 1 - exp(-exp(level (...) + offsets (..., 2, A))), a yearly hazard."""
    return -jnp.expm1(-jnp.exp(level[..., None, None] + offsets))


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


def level_from_total(emigration: np.ndarray, log_at_risk: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The yearly level lambda_t (T,) that reproduces each year's total emigrations under the log-hazard
    schedule `offsets` (2, A): log E_t - log sum_{s,a} N(t, s, a) exp(g(s, a))."""
    log_mass = np.logaddexp.reduce((log_at_risk + offsets).reshape(len(log_at_risk), -1), axis=1)
    return np.log(np.maximum(emigration.sum((1, 2)), 0.5)) - log_mass


def gross_design(
    ages: np.ndarray, immigration: np.ndarray, emigration: np.ndarray, at_risk: np.ndarray
) -> dict[str, Any]:
    """Fixed inputs of `gross_migration_model` from the counts and the population at risk (T, 2, A) each,
    ages 0..max(ages): the two `ScheduleDesign`s (sex-pooled, the common schedule on the cubic spline basis
    `schedule_knots`, the sex difference on `DIFFERENCE_KNOTS`), the observed yearly levels (log
    immigrations in thousands, log emigration hazard) and the log population at risk."""
    top = int(np.max(ages))
    matrix = sex_pooled_matrix(
        age_basis(ages, schedule_knots(top)), age_basis(ages, schedule_knots(top, DIFFERENCE_KNOTS, 10))
    )
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
        `stochpop.demography.ageing.aged_population`):
        E(t, s, a) ~ Poisson(N(t, s, a) exp(lambda_t + g(s, a))), probability of emigrating in the year
        p = 1 - exp(-exp(lambda_t + g)), g a schedule. Likewise: the
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


def simulate_gross_flows(
    parameters: Mapping[str, Any], at_risk: xr.DataArray, key: Array
) -> tuple[np.ndarray, np.ndarray]:
    """Immigration and emigration counts (year, sex, age) persons from known parameters of the model, on
    the population at risk `at_risk` (year, sex, age) persons.

    parameters: immigration_mean (log thousands), immigration_persistence, immigration_shock_scale,
    immigration_shock_df, immigration_schedule (2, A) shares (normalised to sum to one); emigration_mean (log
    hazard), emigration_persistence, emigration_shock_scale, emigration_schedule (2, A) log-hazard offsets.
    Levels start from their stationary laws; immigrations are Poisson, emigrations binomial with
    probability 1 - exp(-hazard).
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
    probability = emigration_probabilities(level_e, jnp.asarray(parameters["emigration_schedule"]))
    immigration = dist.Poisson(rate).sample(k_i)
    emigration = dist.Binomial(jnp.asarray(risk.values, dtype=jnp.int32), probs=probability).sample(k_e)
    return np.asarray(immigration, dtype=float), np.asarray(emigration, dtype=float)
