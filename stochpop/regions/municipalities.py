"""Municipalities as a breakdown of regional paths: SSB's deterministic rule, and municipal shares of the
region that move by their recent growth differential with uncertainty.

SSB's rule (BEFREG, reference ch. 4.3 and 7, "Breakdown from projection region to municipality"): the
region's projected population by sex and one-year age is shared among its municipalities each year by

    a >= 50:  s_m(t, a) = s_m(t-1, a-1)                                 the cohort's share carried on
    1..49:    s_m(t, a) = k(t, a) g_{m,G(a)} s_m(t-1, a-1)              k makes the shares sum to 1
    a = 0:    s_m(t, 0) = k(t) f_m W_m(t-1)                            W_m women 15-49

(sexes apart; the open age takes the cohort of the two oldest ages). g_{m,G} is the municipality's growth
rate in group G (boys and girls 1-15, women 16-28, men 16-28, both sexes 29-49): its share of the region's
group over its share of the same cohorts a year earlier, averaged (arithmetic mean) over the ten years to
the jump-off (fewer where the record is shorter). SSB's gross in-migration accounting with emigration and
death probabilities common to the region's municipalities reduces to this corrected growth factor. SSB
shares the 0-year-olds by 55 fertility profiles (births by municipality); without municipal births here,
f_m is the municipality's ratio of 0-year-olds to women 15-49 a year earlier relative to its region's,
averaged over the same years (modelled, `ssb_breakdown`).

Stochastic shares (`share_model`). A municipality's share of its region is s_m(t) = exp w_m(t) / sum_{j in
region} exp w_j(t), its weight a random walk whose drift is an AR(1) around 0 (pooled towards no growth
differential and damped over the horizon):

    w_m(t) = w_m(t-1) + d_m(t) + sigma_m e_m(t)
    d_m(t) = phi d_m(t-1) + tau_m sqrt(1 - phi^2) eta_m(t),   d_m(1) = tau_m eta_m(1)
    log sigma_m = a_s + b_s x_m + omega z_m,   log tau_m = a_d + b_d x_m,   x_m = log(P_m / 10 000)
    a_s, a_d ~ Normal(log 0.005, 1),  b_s, b_d ~ Normal(0, 0.5),  omega ~ HalfNormal(0.5)
    phi ~ Uniform(0, 1),  e, eta, z ~ Normal(0, 1)

P_m is the municipality's population in the last fitted year (small municipalities' shares move more).
Observed are the log shares y_m(t) = w_m(t) - log sum_j exp w_j(t), so within a region the increments are
dy_m(t) = dw_m(t) - c(t), one unknown c(t) per region-year. Given the parameters, dy_m + c is Gaussian
with covariance S_m = tau_m^2 R + sigma_m^2 I (R_ij = phi^|i - j|, T steps) independently over
municipalities; the drift paths and c (flat) integrate out in closed form, and since every S_m is diagonal
in R's eigenbasis (`drift_spectrum`), the likelihood is elementwise there (`share_log_likelihood`). NUTS
then samples only the hyperparameters and the z of municipalities in regions of several (a region of one
carries no information: its share stays 1). The drift in the last fitted year, d_m(T), is drawn for each
posterior draw from its Gaussian conditional (`_last_drift`, posterior variable drift_last). Forecasts run
the drift on from there: its mean decays by phi^h towards 0 and its spread grows towards tau_m; the weights
start from the jump-off log shares and are renormalised within each region every year, so municipalities
sum to their region exactly. Drifts are identified only up to a constant per region-year (the prior's pull
to 0 picks one), which the renormalisation ignores.

Results (Norway, 357 municipalities on 2024 borders, 2006-2024; experiments/municipal_backtest.py, 428 s;
NUTS 2 x 1000 draws in 20-30 s a fit, R-hat <= 1.012, no divergences). Fitted to 2024, counties (356
municipalities outside Oslo) / BA regions (279 in regions of several): a municipality of 10 000 moves its
log share by sigma = 0.0058 / 0.0059 a year, one of 1 000 by 2.6 / 2.2 times that (b_s -0.42 / -0.34;
omega 0.44 / 0.55 beyond size); drifts spread by tau = 0.0066 / 0.0054 a year and persist with phi = 0.96 /
0.95 (half-life 18 / 12 years). Back-test, jump-offs 2010, 2012, 2014 and 2016 fitted on the data to then,
shares projected to 2024 given the registered regional totals (1 000 paths), over horizons 1-14 pooled
across jump-offs: the 80% intervals cover 0.80-0.88 of the registered municipal populations (wider than
needed beyond 8 years: 0.83-0.88), the 95% intervals 0.95-0.98, small municipalities (< 5 000) alike
(0.80-0.87, 0.94-0.99). The median's mean absolute error at 10 years is 3.3% (BA) / 4.0% (counties),
against 3.8% / 4.8% for SSB's rule (given the regional populations by sex and age) and 4.3% / 7.1% for
shares held at the jump-off; the probability of shrinking by 2024 scores Brier 0.09-0.14 against
0.15-0.23 (SSB's rule) and 0.18-0.40 (held shares). By broad age group (each its own share model, BA,
jump-off 2014) 0-19 and 20-64 are as calibrated (80%: 0.79-0.83 at 10 years) and as accurate as SSB's
rule, but 65+ and 80+ are not: their members are alive already and SSB's cohort rule errs less (3.3% against
5.2%, 4.8% against 10.1% at 10 years; the 80+ fit does not converge). So the model breaks down totals (and
ages under 65); the old are better broken down by the cohort rule.
"""

from collections.abc import Sequence
from functools import partial

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import xarray as xr

from stochpop.components.fitting import fit_model
from stochpop.components.processes import ar1_recursion, random_walk_paths
from stochpop.components.randomness import Paths, path_indices, path_keys, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.data.errors import DataError

SIZE_REFERENCE = 10_000.0
"""Persons at which the scales' size effects are zero (x_m = 0)."""

GROWTH_GROUPS: tuple[tuple[str, tuple[str, ...], int, int], ...] = (
    ("children 1-15", ("female", "male"), 1, 15),
    ("women 16-28", ("female",), 16, 28),
    ("men 16-28", ("male",), 16, 28),
    ("adults 29-49", ("female", "male"), 29, 49),
)
"""SSB's four groups with their own growth rates: (name, sexes, first and last age)."""

SHARE_VARIABLES = ("sigma", "tau", "phi", "drift_last")
"""The posterior variables a forecast needs."""


def _membership(
    municipalities: Sequence[str] | np.ndarray, region_of: pd.Series, source: str
) -> xr.DataArray:
    """One-hot (municipality, region): 1 where the municipality lies in the region."""
    codes = [str(code) for code in municipalities]
    unplaced = sorted(set(codes) - set(region_of.index.astype(str)))
    if unplaced:
        raise DataError(source, "municipality", f"{unplaced[:5]} in no region of region_of")
    unknown = sorted(set(region_of.index.astype(str)) - set(codes))
    if unknown:
        raise DataError(source, "municipality", f"region_of places {unknown[:5]}, which have no population")
    region = region_of.rename(index=str).loc[codes].astype(str)
    regions = sorted(set(region))
    return xr.DataArray(
        (region.to_numpy()[:, None] == np.array(regions)[None]).astype(float),
        dims=("municipality", "region"),
        coords={"municipality": codes, "region": regions},
    )


def _in_region(values: xr.DataArray, membership: xr.DataArray) -> xr.DataArray:
    """Each municipality's region total of `values` (..., municipality) -> (..., municipality)."""
    return xr.dot(xr.dot(values, membership, dim="municipality"), membership, dim="region")


def _share(values: xr.DataArray, membership: xr.DataArray, fallback: xr.DataArray) -> xr.DataArray:
    """`values` over their region total; `fallback` (shares) where the region's total is 0."""
    total = _in_region(values, membership)
    return (values / total.where(total > 0)).fillna(fallback)


def _cohort(population: xr.DataArray) -> xr.DataArray:
    """The people a year later at each age (..., age): age a holds age a-1, the open age holds the two oldest
    ages; age 0 is 0 (born in the year)."""
    moved = population.shift(age=1, fill_value=0.0)
    open_age = population["age"].values[-1]
    return xr.where(population["age"] == open_age, moved + population, moved).transpose(*population.dims)


def _group_mask(age: np.ndarray) -> xr.DataArray:
    """(group, sex, age) 1 where the sex and age belong to the growth group."""
    mask = np.zeros((len(GROWTH_GROUPS), 2, len(age)))
    for index, (_, sexes, first, last) in enumerate(GROWTH_GROUPS):
        for sex_index, sex in enumerate(("female", "male")):
            mask[index, sex_index] = (sex in sexes) & (age >= first) & (age <= last)
    names = [name for name, *_ in GROWTH_GROUPS]
    return xr.DataArray(
        mask, dims=("group", "sex", "age"), coords={"group": names, "sex": ["female", "male"], "age": age}
    )


def _women(population: xr.DataArray) -> xr.DataArray:
    """Women 15-49 (..., municipality)."""
    return population.sel(sex="female", age=slice(15, 49)).sum("age")


def ssb_breakdown(
    registered: xr.DataArray, region_of: pd.Series, regional: xr.DataArray, years_back: int = 10
) -> xr.DataArray:
    """SSB's municipal breakdown (module docstring) of a regional projection.

    registered: municipal persons on 1 January (year, municipality, sex, age), the last year the jump-off;
        the growth rates come from its last `years_back` one-year steps (complete years only).
    region_of: municipality -> region code.
    regional: the regions' projected persons (year, region, sex, age, ...) for years after the jump-off
        (further dims, e.g. draw, broadcast).
    Returns municipal persons (year, municipality, sex, age, ...) summing to `regional` in each region.
    """
    membership = _membership(registered["municipality"].values, region_of, "region_of")
    absent = sorted(set(membership["region"].values.tolist()) - set(map(str, regional["region"].values)))
    if absent:
        raise ValueError(f"regional has no regions {absent[:5]}")
    jump_off = int(registered["year"].values[-1])
    complete = registered.notnull().all(["municipality", "sex", "age"])
    window = [
        int(year)
        for year in registered["year"].values[-years_back:]
        if year - 1 in registered["year"].values and complete.sel(year=year) and complete.sel(year=year - 1)
    ]
    if not window:
        raise ValueError(f"no complete pair of years before {jump_off} for the growth rates")
    now = registered.sel(year=window)
    before = registered.sel(year=[year - 1 for year in window]).assign_coords(year=window)
    groups = _group_mask(registered["age"].values)
    even = 1.0 / _in_region(xr.ones_like(membership.sum("region")), membership)
    share_now = _share(xr.dot(now, groups, dim=["sex", "age"]), membership, even)
    share_before = _share(xr.dot(_cohort(before), groups, dim=["sex", "age"]), membership, even)
    growth = (share_now / share_before.where(share_before > 0)).fillna(1.0).mean("year")
    children = now.sel(age=0).sum("sex")
    relative = _share(children, membership, even) / _share(_women(before), membership, even).where(
        lambda share: share > 0
    )
    fertility = relative.fillna(1.0).mean("year")
    factor = xr.dot(growth, groups, dim="group") + (1 - groups.sum("group"))  # 1 outside the groups

    population = registered.sel(year=jump_off, drop=True)
    projected = []
    for year in regional["year"].values:
        if year <= jump_off:
            raise ValueError(f"regional year {year} is not after the jump-off {jump_off}")
        total_share = _share(population.sum(["sex", "age"]), membership, even)
        carried = _share(_cohort(population) * factor, membership, total_share)
        births = _share(fertility * _women(population), membership, total_share)
        share = xr.where(population["age"] == 0, births, carried)
        target = xr.dot(regional.sel(year=year, drop=True), membership, dim="region")
        population = (share * target).transpose("municipality", "sex", "age", ...)
        projected.append(population)
    return xr.concat(projected, dim=regional["year"]).rename("population")


def _log_shares(population: xr.DataArray, membership: xr.DataArray) -> xr.DataArray:
    """Log of each municipality's share of its region (year, municipality); -inf for an empty one."""
    with np.errstate(divide="ignore"):
        return xr.ufuncs.log(population / _in_region(population, membership))


def drift_spectrum(phi: jax.Array, steps: int) -> tuple[jax.Array, jax.Array]:
    """Eigenvalues (T,) and eigenvectors (T, T) of the AR(1) correlation matrix R_ij = phi^|i - j|. Every
    municipality's covariance tau^2 R + sigma^2 I is diagonal in this basis, and so is their regional sum
    of precisions, which makes the likelihood elementwise."""
    lag = jnp.abs(jnp.arange(steps)[:, None] - jnp.arange(steps)[None])
    return jnp.linalg.eigh(phi**lag)


def _rotated(
    increments: jax.Array, sigma: jax.Array, tau: jax.Array, phi: jax.Array
) -> tuple[jax.Array, ...]:
    """The increments in the spectral basis (M, T), their variances e = tau^2 lambda + sigma^2 (M, T), the
    eigenvalues (T,) and eigenvectors (T, T)."""
    values, vectors = drift_spectrum(phi, increments.shape[1])
    variance = tau[:, None] ** 2 * values + sigma[:, None] ** 2
    return increments @ vectors, variance, values, vectors


def share_log_likelihood(
    increments: jax.Array, region: jax.Array, regions: int, sigma: jax.Array, tau: jax.Array, phi: jax.Array
) -> jax.Array:
    """The log-share increments' log likelihood (module docstring), drift paths and c integrated out:
    increments (M, T), region (M,) index into 0..regions-1, sigma and tau (M,), phi scalar. With y~ the
    increments and e their variances in the spectral basis (`drift_spectrum`), a = sum_region 1 / e and
    b = sum_region y~ / e per region and component:

        log L = -1/2 [sum y~^2 / e - sum b^2 / a] - 1/2 sum log e - 1/2 sum log a - (M - G) T / 2 log 2 pi
    """
    municipalities, steps = increments.shape
    rotated, variance, _, _ = _rotated(increments, sigma, tau, phi)
    total = jax.ops.segment_sum(1.0 / variance, region, num_segments=regions)
    pulled = jax.ops.segment_sum(rotated / variance, region, num_segments=regions)
    return (
        -0.5 * (jnp.sum(rotated**2 / variance) - jnp.sum(pulled**2 / total))
        - 0.5 * jnp.sum(jnp.log(variance))
        - 0.5 * jnp.sum(jnp.log(total))
        - 0.5 * (municipalities - regions) * steps * jnp.log(2 * jnp.pi)
    )


def share_model(
    increments: jax.Array, region: jax.Array, log_size: jax.Array, regions: int, shared: jax.Array
) -> None:
    """The NumPyro model of the module docstring, drift paths and c integrated out. increments (M, T)
    log-share increments dy, region (M,) index of each municipality's region (0..regions-1), log_size (M,)
    x_m, shared (M',) the municipalities in regions of several: only theirs have a z of their own (the
    others' shares are 1 whatever sigma, so theirs is the regression's mean, not a prior-only draw).
    Non-centred (z) because each sigma_m rests on a few increments: centred, omega's bulk ESS was 31 of 600
    on the BA regions 2006-2014, non-centred 233."""
    a_s = numpyro.sample("a_s", dist.Normal(np.log(0.005), 1.0))
    b_s = numpyro.sample("b_s", dist.Normal(0.0, 0.5))
    omega = numpyro.sample("omega", dist.HalfNormal(0.5))
    mean = a_s + b_s * log_size
    z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([shared.shape[0]]).to_event(1))
    sigma = numpyro.deterministic("sigma", jnp.exp(mean.at[shared].add(omega * z)))
    a_d = numpyro.sample("a_d", dist.Normal(np.log(0.005), 1.0))
    b_d = numpyro.sample("b_d", dist.Normal(0.0, 0.5))
    tau = numpyro.deterministic("tau", jnp.exp(a_d + b_d * log_size))
    phi = numpyro.sample("phi", dist.Uniform(0.0, 1.0))
    numpyro.factor("log_shares", share_log_likelihood(increments, region, regions, sigma, tau, phi))


@partial(jax.jit, static_argnums=2)
def _last_drift(
    increments: jax.Array, region: jax.Array, regions: int, draw: dict[str, jax.Array], key: jax.Array
) -> jax.Array:
    """One draw of d_m(T) (M,) from its conditional given the increments and a posterior draw's sigma, tau
    and phi: c ~ Normal(c*, A^-1) per region, then d_m(T) | c, both Gaussian and diagonal in the spectral
    basis: d_m(T) has mean tau^2 sum_k w_k u~_k / e_k and variance tau^2 - tau^4 sum_k w_k^2 / e_k, w_k =
    lambda_k V_Tk, u~ = y~ + c~ the rotated increments with their region's c."""
    sigma, tau = draw["sigma"], draw["tau"]
    rotated, variance, values, vectors = _rotated(increments, sigma, tau, draw["phi"])
    total = jax.ops.segment_sum(1.0 / variance, region, num_segments=regions)
    pulled = jax.ops.segment_sum(rotated / variance, region, num_segments=regions)
    c_key, d_key = jax.random.split(key)
    c = (-pulled + jnp.sqrt(total) * jax.random.normal(c_key, total.shape)) / total
    weight = values * vectors[-1]
    mean = tau**2 * jnp.sum(weight * (rotated + c[region]) / variance, -1)
    spread = jnp.maximum(tau**2 - tau**4 * jnp.sum(weight**2 / variance, -1), 0.0)
    return mean + jnp.sqrt(spread) * jax.random.normal(d_key, mean.shape)


def _with_last_drift(idata: az.InferenceData, increments: np.ndarray, region: np.ndarray, seed: int) -> None:
    """Add drift_last (chain, draw, municipality) to the posterior: each draw's own sample of d_m(T)."""
    posterior = idata["posterior"]
    draws = {
        name: jnp.asarray(posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...).values)
        for name in ("sigma", "tau", "phi")
    }
    keys = jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), draws["phi"].shape[0])
    last = jax.vmap(_last_drift, in_axes=(None, None, None, 0, 0))(
        jnp.asarray(increments), jnp.asarray(region), int(region.max()) + 1, draws, keys
    )
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], -1)
    idata["posterior"]["drift_last"] = (("chain", "draw", "municipality"), np.asarray(last).reshape(shape))


def fit_municipal_shares(
    population: xr.DataArray, region_of: pd.Series, last_year: int, settings: FitSettings | None = None
) -> az.InferenceData:
    """Fit `share_model` (NUTS, float64) to municipal populations (year, municipality) grouped by
    `region_of` (municipality -> region code), over the complete years up to `last_year` after the last one
    with a missing municipality (with Norway's record: from 2006). Posterior sigma, tau (municipality), phi
    and drift_last (municipality; a draw of d_m(T) given each posterior draw, `_last_drift`);
    constant_data: year (the fitted years), jump_off_share and region (municipality)."""
    settings = settings or FitSettings(warmup=500, samples=1000)
    if set(population.dims) != {"year", "municipality"}:
        raise ValueError(f"population must have dims (year, municipality), not {population.dims}")
    population = population.sel(year=population["year"] <= last_year).transpose("year", "municipality")
    gaps = population["year"].values[population.isnull().any("municipality").values]
    population = population.sel(year=population["year"] > (gaps.max() if gaps.size else -np.inf))
    if last_year not in population["year"].values or population.sizes["year"] < 3:
        raise ValueError(f"population needs {last_year} and at least two complete years before it")
    if bool((population < 0).any()):
        raise ValueError("population has negative counts")
    membership = _membership(population["municipality"].values, region_of, "region_of")
    log_share = _log_shares(population, membership)
    increments = np.diff(log_share.values, axis=0).T
    if not np.isfinite(increments).all():
        empty = population["municipality"].values[~np.isfinite(increments).all(1)]
        raise ValueError(f"municipalities {empty[:5].tolist()} have no population in some year")
    region = membership.argmax("region").values
    shared = membership.sum("municipality").values[region] > 1
    codes = population["municipality"].values
    years = population["year"].values
    with jax.enable_x64(True):
        idata = fit_model(
            share_model,
            {
                "increments": jnp.asarray(increments),
                "region": jnp.asarray(region),
                "log_size": jnp.asarray(np.log(population.sel(year=last_year).values / SIZE_REFERENCE)),
                "regions": membership.sizes["region"],
                "shared": jnp.asarray(np.flatnonzero(shared)),
            },
            settings,
            coords={"municipality": codes, "shared": codes[shared]},
            dims={"z": ["shared"], "sigma": ["municipality"], "tau": ["municipality"]},
            constant_data={
                "year": xr.DataArray(years, dims="year"),
                "jump_off_share": xr.DataArray(
                    np.exp(log_share.sel(year=last_year).values), dims="municipality"
                ),
                "region": xr.DataArray(membership["region"].values[region], dims="municipality"),
            },
            check=["a_s", "b_s", "omega", "a_d", "b_d", "phi", "sigma"],
            attrs={"component": "municipal shares"},
        )
        _with_last_drift(idata, increments, region, settings.seed)
    return idata


@partial(jax.jit, static_argnums=2)
def _horizon_shocks(keys: jax.Array, horizons: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Standard normal shocks (horizon, n, *shape): path i's at horizon h from fold_in(fold_in(keys[i], 1),
    h) alone (stream 1; stream 0 picks the posterior draw), so a year's shocks do not depend on which other
    years or paths are drawn."""
    streams = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, 1)

    def at(horizon: jax.Array) -> jax.Array:
        keyed = jax.vmap(jax.random.fold_in, in_axes=(0, None))(streams, horizon)
        return jax.vmap(lambda key: jax.random.normal(key, shape))(keyed)

    return jax.vmap(at)(horizons)


def share_paths(idata: az.InferenceData, key: jax.Array, paths: Paths, horizon: int) -> np.ndarray:
    """Municipal shares of their region (horizon, draw, municipality) for the `horizon` years after the
    fitted ones, each path from its own posterior draw and shocks (`path_keys`)."""
    keys = path_keys(key, paths)
    with jax.enable_x64(True):
        draws = posterior_draws(idata, keys, SHARE_VARIABLES)
        municipalities = idata["posterior"].sizes["municipality"]
        shocks = _horizon_shocks(keys, jnp.arange(1, horizon + 1), (2, municipalities))
        phi = jnp.asarray(draws["phi"])[:, None]
        tau = jnp.asarray(draws["tau"])
        drift = ar1_recursion(
            jnp.asarray(draws["drift_last"]),
            jnp.zeros(()),
            phi,
            tau * jnp.sqrt(1.0 - phi**2),
            shocks[:, :, 1],
        )
        weight = np.asarray(
            random_walk_paths(jnp.zeros(()), drift, jnp.asarray(draws["sigma"]), shocks[:, :, 0])
        )
    start = np.log(idata["constant_data"]["jump_off_share"].values)
    region = idata["constant_data"]["region"].values
    unnormalised = pd.DataFrame(np.exp(start + weight).reshape(-1, municipalities).T)
    totals = unnormalised.groupby(region).transform("sum").to_numpy()
    return (unnormalised.to_numpy() / totals).T.reshape(weight.shape)


def municipal_paths(
    regional: xr.DataArray,
    idata: az.InferenceData,
    key: jax.Array,
    paths: Paths,
    years: Sequence[int] | np.ndarray,
) -> xr.DataArray:
    """Municipal persons (year, draw, municipality): each path's shares (`share_paths`) times its regional
    total. regional: (year, draw, region) totals of the same `paths` (draw in their order), covering
    `years`, all after the fitted years."""
    last_year = int(idata["constant_data"]["year"].values[-1])
    wanted = np.asarray(years, dtype=int)
    if wanted.size == 0 or wanted.min() <= last_year:
        raise ValueError(f"years must be after the fitted years (to {last_year}), not {wanted.tolist()}")
    missing = sorted(set(wanted.tolist()) - set(regional["year"].values.tolist()))
    if missing:
        raise ValueError(f"regional has no years {missing}")
    index = path_indices(paths)
    if regional.sizes["draw"] != index.size:
        raise ValueError(f"regional has {regional.sizes['draw']} draws for {index.size} paths")
    region = idata["constant_data"]["region"].values
    absent = sorted(set(map(str, region)) - set(map(str, regional["region"].values)))
    if absent:
        raise ValueError(f"regional has no regions {absent[:5]}")
    shares = share_paths(idata, key, index, int(wanted.max()) - last_year)[wanted - last_year - 1]
    totals = regional.sel(year=wanted, region=list(region)).transpose("year", "draw", "region").values
    return xr.DataArray(
        shares * totals,
        dims=("year", "draw", "municipality"),
        coords={
            "year": wanted,
            "draw": index,
            "municipality": idata["posterior"]["municipality"].values,
            "region": ("municipality", region),
        },
        name="population",
    )
