"""Regional fertility and mortality as level factors on the national rates (SSB: fixed differences to the
national rates; here uncertain and moving), from registered regional birth and death totals.

Expected events. A region's expected births E_r(t) are the national births per woman at risk applied to its
women (`accounts.regional_births`), its expected deaths the national death probabilities by age at end of
year applied to its aged stock. The factor f_r(t) multiplies the national fertility and death
probabilities: the region's events are f_r(t) E_r(t).

Observed units. Registered totals come for units u that may cover several regions (a 2020 county split in
2024) and whose borders differ slightly from the regions' (`stochpop.data.regional.NUTS_UNITS`); a unit's
count is compared with r_u(t) sum_{r in u} f_r(t) E_r(t), where r_u(t) is the unit's registered
population over its regions' population (the border correction: the moved municipalities are assumed
to have their region's age structure and rates). The observed factor of a one-region unit is
B_u(t) / (r_u(t) E_r(t)).

Model (one per event kind; t = 1..T the fitted years, then `horizon` years without data):

    log f_r(t) = mu_r + eta_r(t)
    mu_r = mu0 + tau z_r,  z_r ~ Normal(0, 1)           partial pooling of the regions' levels
    eta_r(t) = phi eta_r(t-1) + s sqrt(1 - phi^2) e_r(t),  eta_r(1) = s e_r(1),  e ~ Normal(0, 1)
    B_u(t) ~ Poisson(r_u(t) sum_{r in u} f_r(t) E_r(t))
    mu0 ~ Normal(0, 0.2),  tau ~ HalfNormal(0.2),  phi ~ Uniform(0, 1),  s ~ HalfNormal(0.1)

s is the stationary spread of the deviations, sigma = s sqrt(1 - phi^2) their yearly shock (a
deterministic of the posterior): parametrised by s, a persistence near 1 (the data put phi at 0.9-0.99)
does not blow up the first year's scale (with sigma as the parameter NUTS diverged there).

eta carries the yearly deviations, extra-Poisson noise included; the years after the data are forecasts of
the AR(1). Norway's counties 2006-2022 (`norway_counties`, experiments/norway_counties.py): fertility
factors 0.87 (Oslo 2022) to 1.10 (Rogaland), mortality factors 0.94 (Vestland) to 1.19 (Finnmark);
yearly shocks sigma 1.0% (births) and 0.6% (deaths), phi 0.975 and 0.96: the factors move slowly
(Oslo's fertility factor from 0.97 in 2006 to 0.87 in 2022). Arrays: expected (year, region) events;
observations as `Observations`.
"""

from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr

from stochpop.components.fitting import fit_model
from stochpop.components.processes import ar1_recursion
from stochpop.components.randomness import Paths, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import FitSettings


class Observations(NamedTuple):
    """Registered totals of units: total (unit_year,) events, year (unit_year,) index into the model's years,
    member (unit_year, region) 1 where the unit covers the region, ratio (unit_year,) r_u(t)."""

    total: np.ndarray
    year: np.ndarray
    member: np.ndarray
    ratio: np.ndarray


def observations(
    registered: xr.DataArray,
    unit_population: xr.DataArray,
    population: xr.DataArray,
    units: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[int, int]], ...],
    years: np.ndarray,
    merge: tuple[tuple[int, tuple[str, ...]], ...] = (),
    skip: tuple[int, ...] = (),
) -> Observations:
    """Unit totals for the model: `registered` events and `unit_population` (1 January) by (year, nuts);
    `population` the regions' 1 January totals (year, region); `units` as `NUTS_UNITS`; `years` the
    model's years (those without data, and those in `skip`, are left out). `merge` (year, regions): in
    that year the units of those regions count as one (their sum), where the source moved events between
    them. Where a unit's population is not published (the 2020 units on 1 January 2020) r_u = 1: their
    borders are unions of the 2024 counties."""
    regions = list(population["region"].values)
    rows: list[tuple[float, int, np.ndarray, float]] = []
    for index, year in enumerate(years):
        merged: dict[tuple[str, ...], list[str]] = {}
        for nuts, covered, (first, last) in units:
            if year in skip or not first <= year <= last:
                continue
            if np.isnan(registered.sel(year=year, nuts=list(nuts)).values).any():
                continue
            group = next((tuple(g) for y, g in merge if y == year and set(covered) <= set(g)), covered)
            merged.setdefault(group, []).extend(nuts)
        for covered, codes in merged.items():
            member = np.isin(regions, covered).astype(float)
            count = float(registered.sel(year=year, nuts=codes).sum())
            published = unit_population.sel(year=year, nuts=codes).values
            own = float(population.sel(year=year, region=list(covered)).sum())
            ratio = 1.0 if np.isnan(published).any() else float(published.sum()) / own
            rows.append((count, index, member, ratio))
    count, year_index, member, ratio = zip(*rows, strict=True)
    return Observations(np.array(count), np.array(year_index), np.stack(member), np.array(ratio))


def observed_factors(obs: Observations, expected: xr.DataArray, factors: xr.DataArray) -> xr.DataArray:
    """Factors (year, region) that reproduce the registered totals: `factors` (e.g. the posterior mean)
    scaled in each unit-year so that r_u sum_{r in u} f_r E_r equals its count; where a unit is one region
    this is B_u / (r_u E_r) whatever `factors` says. Region-years without a unit keep `factors`."""
    calibrated = factors.transpose(*expected.dims).values.copy()
    for count, year, member, ratio in zip(*obs, strict=True):
        inside = member > 0
        modelled = ratio * np.sum(calibrated[year, inside] * expected.values[year, inside])
        calibrated[year, inside] *= count / modelled
    return expected.copy(data=calibrated)


def level_model(
    expected: jax.Array,
    obs_year: jax.Array,
    member: jax.Array,
    ratio: jax.Array,
    count: jax.Array | None = None,
) -> None:
    """The NumPyro model of the module docstring. expected (T, R) events (T counts the forecast years);
    obs_year (N,), member (N, R), ratio (N,) as `Observations`; count (N,) or None (prior)."""
    years, regions = expected.shape
    mu0 = numpyro.sample("mu0", dist.Normal(0.0, 0.2))
    tau = numpyro.sample("tau", dist.HalfNormal(0.2))
    z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([regions]).to_event(1))
    phi = numpyro.sample("phi", dist.Uniform(0.0, 1.0))
    spread = numpyro.sample("s", dist.HalfNormal(0.1))
    sigma = numpyro.deterministic("sigma", spread * jnp.sqrt(1.0 - phi**2))
    shocks = numpyro.sample("shocks", dist.Normal(0.0, 1.0).expand([years, regions]).to_event(2))
    start = shocks[0] * spread
    eta = jnp.concatenate([start[None], ar1_recursion(start, jnp.zeros(()), phi, sigma, shocks[1:])])
    log_factor = numpyro.deterministic("log_factor", mu0 + tau * z + eta)
    mean = ratio * jnp.sum(member * jnp.exp(log_factor[obs_year]) * expected[obs_year], axis=-1)
    numpyro.sample("count", dist.Poisson(mean), obs=count)


def fit_levels(
    expected: xr.DataArray, obs: Observations, horizon: int = 1, settings: FitSettings | None = None
) -> az.InferenceData:
    """Fit `level_model` (NUTS, float64) to `expected` events (year, region) of the fitted years and the
    unit totals `obs`; `horizon` forecast years follow, with expected events carried from the last year
    (they do not enter the likelihood). Posterior log_factor (chain, draw, year, region). Diagnostics
    cover the factors, mu0 and sigma: how the regions' differences split between lasting levels (tau)
    and persistent deviations (s, phi) is weakly identified over Norway's 17 years (bulk ESS 150-500 of
    2 000 draws against over 2 000 for every factor)."""
    settings = settings or FitSettings(warmup=500, samples=1000, target_accept=0.95)
    years = np.concatenate([expected["year"].values, expected["year"].values[-1] + np.arange(1, horizon + 1)])
    padded = np.concatenate([expected.values, np.repeat(expected.values[-1:], horizon, 0)])
    regions = expected["region"].values
    with jax.enable_x64(True):
        return fit_model(
            level_model,
            {
                "expected": jnp.asarray(padded),
                "obs_year": jnp.asarray(obs.year),
                "member": jnp.asarray(obs.member),
                "ratio": jnp.asarray(obs.ratio),
                "count": jnp.asarray(obs.total),
            },
            settings,
            coords={"year": years, "region": regions},
            dims={"log_factor": ["year", "region"], "z": ["region"]},
            constant_data={"expected": xr.DataArray(padded, dims=("year", "region"), coords={"year": years})},
            check=["mu0", "sigma", "log_factor"],
            attrs={"component": "regional levels"},
        )


def factor_summary(idata: az.InferenceData, levels: tuple[float, ...] = (0.1, 0.5, 0.9)) -> xr.DataArray:
    """Posterior quantiles of the factors exp(log_factor): (quantile, year, region)."""
    factor = xr.ufuncs.exp(idata["posterior"]["log_factor"].stack(sample=("chain", "draw")))
    return factor.quantile(list(levels), dim="sample")


def factor_draws(idata: az.InferenceData, key: jax.Array, paths: Paths, years: np.ndarray) -> np.ndarray:
    """Each path's factors exp(log_factor) (year, draw, region) for `years`: its own draw of the posterior
    (its key `fold_in(key, path)`, stream 0, as the components draw theirs), and past the posterior's last
    year the AR(1) of the deviations continued with the path's own shocks (stream 1),

        eta_r(T + h) = phi eta_r(T + h - 1) + sigma e_r(T + h),  eta_r(T) = log_factor_r(T) - mu0 - tau z_r,

    so a path's factors do not depend on the chunk it is drawn in. ValueError for years before the
    posterior's first. Give fertility and mortality different `key`s so that their draws are independent."""
    available = idata["posterior"]["year"].values
    years = np.asarray(years)
    if years.min() < available[0]:
        raise ValueError(f"the level posterior starts in {available[0]}; asked for {years.min()}")
    keys = path_keys(key, paths)
    draws = posterior_draws(idata, keys, ["log_factor", "mu0", "tau", "z", "phi", "sigma"])
    log_factor = draws["log_factor"]  # (draw, year, region)
    extra = int(years.max() - available[-1])
    if extra > 0:
        mean = draws["mu0"][:, None] + draws["tau"][:, None] * draws["z"]  # (draw, region)
        shocks = np.moveaxis(np.asarray(path_shocks(keys, 1, (extra, mean.shape[-1]))), 1, 0)
        eta = ar1_recursion(
            jnp.asarray(log_factor[:, -1] - mean),
            jnp.zeros(()),
            jnp.asarray(draws["phi"][:, None]),
            jnp.asarray(draws["sigma"][:, None]),
            jnp.asarray(shocks),
        )
        log_factor = np.concatenate([log_factor, np.moveaxis(np.asarray(eta), 0, 1) + mean[:, None]], axis=1)
    index = years - available[0]
    return np.exp(np.swapaxes(log_factor[:, index], 0, 1))
