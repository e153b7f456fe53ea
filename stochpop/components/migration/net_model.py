"""The net migration model: its NumPyro model, fixed inputs and data-generating process.

Net migration by year, sex and age (thousands of persons) is the yearly total T_t times an age-sex schedule
w(s, a) (cubic B-splines, `schedules`) that may be negative at some ages, plus normal cell noise. The total
is either a stationary AR(1) with Student-t shocks (`net_migration_model`) or a slowly reverting level
that shifts and stays plus AR(1) deviations with Student-t shocks (`shifting_net_migration_model`, priors
learnt from a long cross-country record, `shocks`).
"""

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from stochpop.components.migration.schedules import age_basis, schedule_knots, spline_values
from stochpop.components.migration.shocks import LevelShiftPrior
from stochpop.components.processes import AR1, ar1_recursion, shock_df_prior
from stochpop.conventions import SEXES

Array = jax.Array

NET_SCALARS = ("long_run_mean", "persistence", "shock_scale", "shock_df")
"""The scalar parameters of `net_migration_model`."""
SHIFTING_SCALARS = (*NET_SCALARS, "level_scale")
"""The scalar parameters of `shifting_net_migration_model` (`persistence` is a deterministic of it)."""
NOISE_KNOTS = (0, 15, 25, 35, 50, 65, 80, 95)
"""Knots of the piecewise-linear log observation sd of the net model (ages)."""
NET_COEF_SD = 0.02
"""Prior sd of the net schedule's coefficients (share of the total per cell; Norway's peak is 0.024)."""
_NOISE_FLOOR = 0.001
"""Smallest observation sd of a net migration cell, thousands (one person)."""


def net_design(ages: np.ndarray) -> dict[str, np.ndarray]:
    """Fixed inputs of `net_migration_model` for ages 0..max(ages): the schedule's cubic spline basis on
    `schedule_knots` and the noise's linear one on `NOISE_KNOTS`, (age, basis) each."""
    top = int(np.max(ages))
    return {
        "basis": age_basis(ages, schedule_knots(top)),
        "noise_basis": age_basis(ages, schedule_knots(top, NOISE_KNOTS, 5), degree=1),
    }


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
    basis (A, K), noise_basis (A, K') from `net_design`; total: (T,) thousands; observed: (T, 2, A)
    thousands, or None to simulate.
    """
    mu = numpyro.sample("long_run_mean", dist.Normal(0.0, 5.0 * unit))
    phi = numpyro.sample("persistence", dist.Beta(2.0, 1.5))
    sigma = numpyro.sample("shock_scale", dist.HalfNormal(2.0 * unit))
    nu = numpyro.sample("shock_df", shock_df_prior())
    numpyro.sample("total", AR1(mu, phi, sigma, total.shape[0], df=nu), obs=total)
    _schedule_cells(basis, noise_basis, total, observed)


def shifting_net_migration_model(
    basis: Array,
    noise_basis: Array,
    unit: Array,
    total: Array,
    prior: LevelShiftPrior,
    observed: Array | None = None,
) -> None:
    """Net migration by year, sex and age, thousands of persons, with a level that can shift and stay.

    Total: T_t = L_t + d_t (`stochpop.components.processes.level_shift_paths`), n years:
        L_1 ~ Normal(mu, tau / sqrt(1 - rho^2)),  L_t = mu + rho (L_{t-1} - mu) + tau u_t,  u_t ~ Normal(0, 1)
            (the level, non-centred: `level_coef` = (L_1 standardised, u_2..u_n));
        d_t = T_t - L_t ~ AR(1) around 0 (`AR1`): persistence phi, shock scale sigma, Student-t nu shocks.
    Schedule and cells as `net_migration_model`.
    Priors (u = `unit`, thousands per 1 per mille of the population; `prior` per 1000 residents, learnt from
    the long record up to the fit's last year, `shocks.learn_level_shift_prior`):
        rho = prior.damping, fixed (25 years cannot tell a half-life of decades);
        mu ~ Normal(u prior.long_run_mean, u prior.long_run_sd);
        log tau ~ Normal(log(u prior.level_scale_median), prior.level_scale_log_sd);
        log sigma ~ Normal(log(u prior.shock_scale_median), prior.shock_scale_log_sd);
        phi = rho v, v ~ Beta(2, 2) (the deviations revert faster than the level, as in the record);
        nu ~ 2 + Gamma(2, 0.1).
    Forecasts run the level on with a scale of its own per path (`shocks.future_level_scale`: a country's
    level scale in one period predicts about half of it in the next, in the record).
    total: (T,) thousands; observed: (T, 2, A) thousands, or None to simulate.
    """
    n = total.shape[0]
    rho = jnp.asarray(prior.damping)
    mu = numpyro.sample("long_run_mean", dist.Normal(unit * prior.long_run_mean, unit * prior.long_run_sd))
    tau = numpyro.sample(
        "level_scale", dist.LogNormal(jnp.log(unit * prior.level_scale_median), prior.level_scale_log_sd)
    )
    sigma = numpyro.sample(
        "shock_scale", dist.LogNormal(jnp.log(unit * prior.shock_scale_median), prior.shock_scale_log_sd)
    )
    phi = numpyro.deterministic("persistence", rho * numpyro.sample("reversion", dist.Beta(2.0, 2.0)))
    nu = numpyro.sample("shock_df", shock_df_prior())
    u = numpyro.sample("level_coef", dist.Normal().expand([n]).to_event(1))
    first = mu + tau / jnp.sqrt(1.0 - rho**2) * u[0]
    level = numpyro.deterministic(
        "level", jnp.concatenate([first[None], ar1_recursion(first, mu, rho, tau, u[1:])])
    )
    numpyro.sample("deviation", AR1(jnp.zeros(()), phi, sigma, n, df=nu), obs=total - level)
    _schedule_cells(basis, noise_basis, total, observed)


def _schedule_cells(basis: Array, noise_basis: Array, total: Array, observed: Array | None) -> None:
    """The schedule w and the cells y ~ Normal(T_t w, sd) of both net models (see `net_migration_model`)."""
    z = numpyro.sample("schedule_coef", dist.Normal().expand([len(SEXES), basis.shape[1]]).to_event(2))
    w = spline_values(NET_COEF_SD * z, basis)
    numpyro.deterministic("schedule", w / w.sum())
    z_noise = numpyro.sample(
        "noise_coef", dist.Normal().expand([len(SEXES), noise_basis.shape[1]]).to_event(2)
    )
    log_omega = spline_values(np.log(0.05) + 1.5 * z_noise, noise_basis)
    sd = jnp.sqrt(jnp.exp(2.0 * log_omega) + _NOISE_FLOOR**2)
    numpyro.deterministic("noise_sd", sd)
    numpyro.sample("net_migration", dist.Normal(total[:, None, None] * w, sd).to_event(3), obs=observed)


def simulate_net_migration(
    parameters: Mapping[str, Any], years: Sequence[int] | np.ndarray, key: Array
) -> xr.DataArray:
    """Net migration (year, sex, age 0..A-1) persons from known parameters of the model (in its units).

    parameters: long_run_mean, persistence, shock_scale (thousands), shock_df (scalars); schedule (2, A),
    normalised to sum to one; noise_sd (2, A) thousands. Totals follow the AR(1) from its stationary law;
    cell noise is centred so that the cells add up to the total (the fitted model conditions on the totals).
    """
    year_values = np.asarray(years)
    k_total, k_noise = jax.random.split(key)
    total = AR1(
        parameters["long_run_mean"],
        parameters["persistence"],
        parameters["shock_scale"],
        year_values.size,
        df=parameters["shock_df"],
    ).sample(k_total)
    w = jnp.asarray(parameters["schedule"])
    w = w / w.sum()
    noise = jnp.asarray(parameters["noise_sd"]) * jax.random.normal(k_noise, (year_values.size, *w.shape))
    noise = noise - w * noise.sum((1, 2), keepdims=True)
    cells = total[:, None, None] * w + noise
    return xr.DataArray(
        1000.0 * np.asarray(cells),
        dims=("year", "sex", "age"),
        coords={"year": year_values, "sex": list(SEXES), "age": np.arange(w.shape[-1])},
        attrs={"units": "persons"},
    )
