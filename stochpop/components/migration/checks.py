"""Posterior predictive checks shared by the migration components: the observations a fit is checked
against and one-step replicates of its yearly levels (the share inside intervals:
`stochpop.components.fitting.interval_share`)."""

from collections.abc import Callable, Sequence

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.processes import ar1_conditionals
from stochpop.components.randomness import path_keys, posterior_draws
from stochpop.data.container import CountryData


def checked_observations(
    idata: az.InferenceData,
    data: CountryData | None,
    names: Sequence[str],
    from_data: Callable[[CountryData], xr.Dataset],
) -> xr.Dataset:
    """The observations `names` (year, sex, age) over the fit's years and ages: `from_data(data)`, or if
    `data` is None those the fit stored in its constant_data (ValueError if it has none)."""
    if data is not None:
        observed = from_data(data)
    elif all(name in idata["constant_data"] for name in names):
        observed = idata["constant_data"][list(names)]
    else:
        raise ValueError(
            f"the fit stores no observations ({', '.join(names)}) in its constant_data: pass the CountryData "
            "it was fitted to"
        )
    years, ages = idata["constant_data"]["year"].values, idata["posterior"]["age"].values
    return observed.sel(year=years, age=ages).transpose("year", "sex", "age")


def check_draws(
    idata: az.InferenceData, n_draws: int, seed: int
) -> tuple[np.random.Generator, dict[str, np.ndarray]]:
    """The replicates' generator and `n_draws` posterior draws (draw, ...), both from `seed`."""
    return np.random.default_rng(seed), posterior_draws(idata, path_keys(jax.random.PRNGKey(seed), n_draws))


def one_step_replicates(
    rng: np.random.Generator,
    value: np.ndarray,
    loc: np.ndarray,
    persistence: np.ndarray,
    scale: np.ndarray,
    df: np.ndarray | None,
) -> np.ndarray:
    """One-step-ahead replicates (draw, T) of an AR(1) series `value` ((T,) or (draw, T)) given its past,
    parameters (draw,); shocks Student-t with `df` (draw,) or normal if None."""
    mean, sd = (np.asarray(a) for a in ar1_conditionals(jnp.asarray(value), loc, persistence, scale))
    shape = np.broadcast_shapes(mean.shape, (loc.shape[0], mean.shape[-1]))
    e = rng.standard_normal(shape) if df is None else rng.standard_t(df[:, None], shape)
    return mean + sd * e
