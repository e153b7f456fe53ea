"""Forecast pieces shared by the mortality components: index paths, the Kannisto extension above the fitted
ages, one year's values (rates and e0) and the labelled forecast."""

from collections.abc import Sequence
from functools import partial

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.contract import Component, MortalityValues, values_by_year
from stochpop.components.fitting import constant_values
from stochpop.components.mortality.parameters import product_ratio_log_rates
from stochpop.components.mortality.window import FIT_MAX_AGE
from stochpop.components.processes import ar1_recursion, random_walk_paths
from stochpop.components.randomness import Paths, path_indices, path_shocks
from stochpop.conventions import N_AGES, SEXES
from stochpop.demography.lifetable import e0_by_sex

Array = jax.Array

FORECAST_AGES = np.arange(N_AGES)
"""Ages of the forecast rates: 0..119, 119 open."""
KANNISTO_FIT_AGES = (80, FIT_MAX_AGE)
"""Ages whose rates fix the Kannisto extrapolation above FIT_MAX_AGE (`kannisto_rates`)."""


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


def mortality_values(log_m: Array) -> MortalityValues:
    """Rates (..., sex, age 0..119) per person-year from log rates (..., sex, age 0..FIT_MAX_AGE) extended
    by `kannisto_rates`, and their e0 (..., sex) in years (`stochpop.demography.lifetable.e0_by_sex`)."""
    rates = kannisto_rates(log_m)
    return MortalityValues(mortality=rates, e0=e0_by_sex(rates, jnp))


def check_forecast_years(years: Sequence[int], last_fitted: int) -> np.ndarray:
    """`years` as an int array; ValueError unless all come after the last fitted year."""
    year_array = np.asarray(years, dtype=int)
    if year_array.size == 0 or (year_array <= last_fitted).any():
        raise ValueError(
            f"forecast years must be after the last fitted year {last_fitted}: {year_array.tolist()}"
        )
    return year_array


def labelled_forecast(
    component: Component,
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
                np.asarray(values.mortality),
                {"units": "deaths per person-year", "age": "completed years (Lexis squares), 119 open"},
            ),
            "e0": (
                ("draw", "year", "sex"),
                np.asarray(values.e0),
                {"units": "years", "method": "HMD life table (stochpop.demography.lifetable.e0_by_sex)"},
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
    T+1..T+horizon, all paths at once; keys: one PRNG key per path
    (`stochpop.components.randomness.path_keys`).

    params: natural parameters with a leading draw axis (`PARAM_DIMS`). Product indices continue their
    random walks with drift from k(T) (Student-t(nu) or normal innovations, key stream 1), ratio indices
    their AR(1)s around 0 (normal, stream 2).
    """
    shocks_p = path_shocks(keys, 1, (horizon, params["k_p"].shape[1]), nu)
    shocks_r = path_shocks(keys, 2, (horizon, params["k_r"].shape[1]))
    k_p = random_walk_paths(
        params["k_p"][..., -1], params["drift"], params["sigma"], _swap_draw_and_time(shocks_p)
    )
    k_r = ar1_recursion(
        params["k_r"][..., -1], jnp.asarray(0.0), params["phi"], params["tau"], _swap_draw_and_time(shocks_r)
    )
    return _swap_draw_and_time(k_p)[:, pick], _swap_draw_and_time(k_r)[:, pick]


@partial(jax.jit, static_argnames=("horizon",))
def lee_carter_index_paths(
    last: Array, drift: Array, sigma: Array, pick: Array, keys: Array, horizon: int
) -> Array:
    """Indices k_s (draw, year, sex) of the one-sex Lee-Carter at positions `pick` of T+1..T+horizon: each
    continues its random walk with drift from `last` (draw, sex) with normal innovations (key stream 1);
    drift, sigma (draw, sex); keys: one PRNG key per path."""
    shocks = path_shocks(keys, 1, (horizon, drift.shape[1]))
    return _swap_draw_and_time(random_walk_paths(last, drift, sigma, _swap_draw_and_time(shocks)))[:, pick]


def _swap_draw_and_time(paths: Array) -> Array:
    """Swap the leading (draw, time) axes: path shocks are (draw, time, ...), the processes run time-first."""
    return jnp.swapaxes(paths, 0, 1)


def jump_off_residual(idata: az.InferenceData, params: dict[str, Array]) -> Array:
    """Observed minus fitted log rates in the last fitted year (draw, sex, age 0..FIT_MAX_AGE); 0 where no
    deaths. params: natural parameters with a leading draw axis."""
    deaths = constant_values(idata, "observed_deaths")[-1]
    exposure = constant_values(idata, "exposure")[-1]
    fitted = product_ratio_log_rates(
        params["a_p"],
        params["b_p"],
        params["k_p"][..., -1:],
        params["a_r"],
        params["b_r"],
        params["k_r"][..., -1:],
    )
    with np.errstate(divide="ignore"):
        observed = np.log(deaths / exposure)
    return jnp.where(deaths > 0, observed - fitted[:, 0], 0.0)


@jax.jit
def e0_sensitivity(params: dict[str, Array], offset: Array) -> Array:
    """d e0 / d k_p1 (draw,) in years per unit of the first product index: the two-sex mean e0 of the last
    fitted year's rates plus `offset` (draw, sex, age 0..FIT_MAX_AGE), differentiated forward (`jax.jvp`).
    params: natural parameters with a leading draw axis. Negative where mortality falls as k_p1 falls."""
    p = params
    last_p, last_r = p["k_p"][..., -1:], p["k_r"][..., -1:]

    def mean_e0(shift: Array) -> Array:
        k_p = last_p.at[:, 0, 0].add(shift)
        log_m = product_ratio_log_rates(p["a_p"], p["b_p"], k_p, p["a_r"], p["b_r"], last_r)
        return mortality_values(log_m[:, 0] + offset).e0.mean(-1)

    zeros = jnp.zeros(last_p.shape[0], last_p.dtype)
    return jax.jvp(mean_e0, (zeros,), (jnp.ones_like(zeros),))[1]
