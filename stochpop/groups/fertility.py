"""Fertility by BEFINN group (issue #14, item 2): the relative fertility levels of immigrant women in SSB's
15 classes (country group g = 1..3 x duration of stay c: <=1, 2-3, 4-6, 7-11, 12+ years; ch. 3.1, 5.1),
their convergence towards the rest's, and the share of immigrant women's children with an immigrant
father.

Every cell's fertility is the rest's (the national path, `stochpop.components.fertility`) times a factor:
SSB scales all 16 groups by one factor (ch. 3.1, 5.1), so the relative levels carry the groups. The rest
and the Norwegian-born to immigrant parents have factor 1 (SSB gives the daughters the rest's fertility,
ch. 4.2); immigrant women the relative TFR r_{g,c}(t) of their class.

Model (`group_fertility_model`), levels relative to the rest on the log scale, stated for the reference
year t0 (the last fitted year, 2022):
    log r_{g,c} = a_g + p_{g,c} - mean_c' p_{g,c'},   p_{g,c} = b_c + e_{g,c}   (a_g: the group's mean
        log level over its five classes, the quantity the aggregates pin down best), b_5 = e_{g,5} = 0,
    b_c = sum_{j=c..4} step_j, step_j >= 0: the pooled duration profile, falling with duration (Tønnessen
        2014a, quoted in ch. 3.1: "immigrant fertility declines as the duration of stay in Norway
        increases"; ch. 2.1: "many immigrant women have particularly high levels of fertility the first few
        years after they arrive"); the reference publishes no numbers for it (Figures 3.2/3.5 only);
    e_{g,c} = tau z_{g,c}: each group's deviation from the pooled profile, shrunk towards it;
    log r_{g,c}(t) = log r_{g,c} exp(-lambda (t - t0)): the relative levels converge towards 1 at rate
        lambda, in the fitted years and over the projection alike (SSB holds them fixed: lambda = 0).
Likelihood (`stochpop.groups.fertility_data`: the registered series and their weights):
    log R_{s,t} ~ Normal(log sum_{g,c} mix_{s,t,g,c} r_{g,c}(t) + o proxy_s, sigma)
for SSB's TFR ratios to the rest (immigrants in all; EU/EFTA = group 2 with group 1's European part;
North America-Oceania, a part of group 1 with offset o), 2009-2022; and SSB's shares of 2017's births
by mother's background (immigrant mothers, group 3, group 2), log-normal with sd
sqrt(sigma_b^2 + rounding^2): a misfit scale sigma_b of their own, since they are levels of births that
rest on the reconstruction's unregistered split of each group's women by age and duration (the fit
leaves group 3's 18% at about 14%: SSB's share asks for more group-3 women at risk than the
reconstruction has, or for births to the year's arrivals, which the kernel's women at risk exclude).
No class-level (group x duration) figure exists in the shared data: the duration profile is identified
by its prior and by the change of the duration mix over 2009-2022 (the women at <=1 year fall from 32% of
the weighted immigrant women in 2009 to 19% in 2022), weakly; the group levels by the mixtures'
different group weights; lambda by the ratios' drift net of composition.
Priors (log scale; stated choices, justified by the registered spread of TFR ratios to the rest across
world regions in SSB's tables 1998-2022, 0.84 (Latin America 2022) to 1.99 (Africa 1998)):
    a_g ~ Normal(0, 0.5) (`GROUP_LEVEL_SD`); step_j ~ HalfNormal(0.15) (`DURATION_STEP_SD`);
    tau ~ HalfNormal(0.1) (`DEVIATION_SCALE_SD`), z ~ Normal(0, 1); lambda ~ HalfNormal(0.05)
    (`CONVERGENCE_RATE_SD`); sigma ~ HalfNormal(0.1) (`NOISE_SD`); sigma_b ~ HalfNormal(0.2)
    (`SHARE_NOISE_SD`); o ~ Normal(0, 0.1) (`PROXY_OFFSET_SD`).

Father share: per path, group g's long-run share of immigrant women's children with an immigrant father
~ Beta(k m_g, k (1 - m_g)), m = `SHARE_IMMIGRANT_FATHER` (Figure 3.34: 50%, 80%, 75%), k =
`FATHER_SHARE_CONCENTRATION`. There are no data on it here: the spread is a stated choice (below).
"""

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from numpyro import handlers
from scipy.special import betaincinv, ndtr

from stochpop.components.fitting import fit_model
from stochpop.components.randomness import Paths, path_indices, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.demography.groups import SHARE_IMMIGRANT_FATHER, GroupCells
from stochpop.groups.fertility_data import DURATION_LABELS, FertilityData, duration_class, fertility_data
from stochpop.groups.jump_off import CELLS
from stochpop.groups.registered import RegisteredGroups

Array = jax.Array

GROUP_LEVEL_SD: float = 0.5
"""Prior sd of a group's mean log level over the five classes: a ratio within 0.37-2.7 at 95%, wider than
every registered world region's TFR ratio to the rest (0.84-1.99, SSB's tables 1998-2022)."""
DURATION_STEP_SD: float = 0.15
"""Prior scale of each fall of the log level from one duration class to the next (half-normal): the prior
gap between <=1 and 12+ years has mean 0.48 (ratio 1.6), sd 0.18 and 95% below 0.80, within the spread of the
registered regional ratios (log 0.84 to log 1.99, a range of 0.86)."""
DEVIATION_SCALE_SD: float = 0.1
"""Prior scale (half-normal) of the sd of a group's deviation from the pooled duration profile: groups
share the profile's shape up to about 10%."""
CONVERGENCE_RATE_SD: float = 0.05
"""Prior scale (half-normal) of the yearly convergence rate lambda of the log levels towards 0. Its bulk
spans SSB's choice of none (lambda = 0; 8% of the prior below 0.005, a half-life over 140 years), a median
half-life of 20 years (lambda 0.034), and 95% below 0.098 (95% of the gap gone in 30 years). For scale:
the immigrants' registered ratio fell from 1.33 (1998) to 1.07 (2022), log 0.29 to 0.07, a rate of 0.06
if it were all convergence (part is the change of the mix)."""
NOISE_SD: float = 0.1
"""Prior scale (half-normal) of the log ratios' year-to-year noise: the registered immigrants' ratio
moves by up to 10% in a year (1.12 in 2016 in SSB's table of 1998-2016, 1.24 in 2017 in Tabell 5)."""
SHARE_NOISE_SD: float = 0.2
"""Prior scale (half-normal) of the birth shares' misfit: their weights rest on the reconstruction's
unregistered split of each group's women by age and duration (only group totals are registered; the
jump-off's own stated spread of such cells is 20%, `jump_off.CELL_SHAPE`)."""
PROXY_OFFSET_SD: float = 0.1
"""Prior sd of North America-Oceania's log offset from all of group 1: group 1's countries registered in
SSB's 2015-2016 country table lie within about 10% of each other (Sweden 1.79-1.86, Germany 1.73-1.79,
Denmark 1.51-1.74)."""
FATHER_SHARE_CONCENTRATION: float = 24.0
"""k of the father shares' Beta draws: sd 0.10 around group 1's 50% and 0.08-0.09 around 80% and 75%.
A stated choice: SSB's own long-run assumptions move group 1 from "much lower" up to 50% and group 2 from
"a very high level" down to 80% (ch. 3.4, Figure 3.34), steps of about 10-20 points; a 95% band of about
+-20 points spans steps of that size in either direction."""
MAX_LOG_GROWTH: float = 5.0
"""Cap on lambda (t0 - t) for the fitted years before t0: binding only at lambda > 5 / 13 = 0.38 (7.7 prior
sds), so it changes nothing the posterior can reach; it keeps the sampler's first steps finite."""
MODEL_SCALARS: tuple[str, ...] = (
    "deviation_scale",
    "convergence_rate",
    "noise_sd",
    "share_noise_sd",
    "proxy_offset",
)


def group_fertility_model(
    mix: Array,
    year_offset: Array,
    proxy: Array,
    birth_women: Array,
    birth_rest: Array,
    birth_rows: Array,
    birth_offset: Array,
    birth_sd: Array,
    log_ratio: Array | None = None,
    log_shares: Array | None = None,
) -> None:
    """Relative fertility of immigrant women by group and duration class (module docstring).

    mix (n, G, K): class weights of each observed TFR ratio; year_offset (n,): its year - t0; proxy (n,):
    1 where the offset o applies; birth_women (G, K), birth_rest (): women at risk weighted by the age
    schedule in the birth-share year (shares of all); birth_rows (m, G, K): the classes of each birth
    share; birth_offset (): that year - t0; birth_sd (m,): relative rounding sd; log_ratio (n,),
    log_shares (m,): observed, or None to simulate.
    """
    n_groups, n_classes = mix.shape[1:]
    level = numpyro.sample("group_level", dist.Normal(0.0, GROUP_LEVEL_SD).expand([n_groups]).to_event(1))
    step = numpyro.sample(
        "duration_step", dist.HalfNormal(DURATION_STEP_SD).expand([n_classes - 1]).to_event(1)
    )
    effect = numpyro.deterministic(
        "duration_effect", jnp.concatenate([jnp.cumsum(step[::-1])[::-1], jnp.zeros(1)])
    )
    tau = numpyro.sample("deviation_scale", dist.HalfNormal(DEVIATION_SCALE_SD))
    z = numpyro.sample("deviation_coef", dist.Normal().expand([n_groups, n_classes - 1]).to_event(2))
    deviation = jnp.concatenate([tau * z, jnp.zeros((n_groups, 1))], axis=-1)
    profile = effect[None, :] + deviation
    log_relative = numpyro.deterministic(
        "log_relative", level[:, None] + profile - profile.mean(-1, keepdims=True)
    )
    rate = numpyro.sample("convergence_rate", dist.HalfNormal(CONVERGENCE_RATE_SD))
    sigma = numpyro.sample("noise_sd", dist.HalfNormal(NOISE_SD))
    offset = numpyro.sample("proxy_offset", dist.Normal(0.0, PROXY_OFFSET_SD))

    # logs of weighted sums, shifted by the largest term: finite where the sampler starts far out
    at_years = (log_relative[None] * _shrink(rate, year_offset)[:, None, None]).reshape(mix.shape[0], -1)
    log_fitted = _log_weighted_sum(at_years, mix.reshape(mix.shape[0], -1))
    numpyro.deterministic("ratio_fitted", jnp.exp(log_fitted))
    numpyro.sample("log_ratio", dist.Normal(log_fitted + offset * proxy, sigma).to_event(1), obs=log_ratio)
    at_births = jnp.append((log_relative * _shrink(rate, birth_offset)).ravel(), 0.0)
    women = jnp.append(birth_women.ravel(), birth_rest)
    rows = jnp.concatenate(
        [birth_rows.reshape(birth_rows.shape[0], birth_women.size), jnp.zeros((birth_rows.shape[0], 1))], 1
    )
    log_share = _log_weighted_sum(at_births, rows * women) - _log_weighted_sum(at_births, women)
    numpyro.deterministic("share_fitted", jnp.exp(log_share))
    share_sigma = numpyro.sample("share_noise_sd", dist.HalfNormal(SHARE_NOISE_SD))
    spread = jnp.sqrt(share_sigma**2 + birth_sd**2)
    numpyro.sample("log_shares", dist.Normal(log_share, spread).to_event(1), obs=log_shares)


def _shrink(rate: Array, offset: Array) -> Array:
    """exp(-lambda (t - t0)), its exponent capped at `MAX_LOG_GROWTH` (fitted years before t0)."""
    return jnp.exp(jnp.minimum(-rate * offset, MAX_LOG_GROWTH))


def _log_weighted_sum(log_values: Array, weights: Array) -> Array:
    """log sum_k w_k exp(v_k) over the last axis (v broadcasting against w >= 0), shifted by the largest v
    of positive weight."""
    weighted = jnp.where(weights > 0, log_values, -jnp.inf)
    top = jax.lax.stop_gradient(weighted.max(-1, keepdims=True))
    return jnp.log((weights * jnp.exp(weighted - top)).sum(-1)) + top[..., 0]


def fit_fertility_data(data: FertilityData, settings: FitSettings = DEFAULT_FIT_SETTINGS) -> az.InferenceData:
    """Fit `group_fertility_model` to `data`; the observations and weights go into `constant_data`, the
    reference year into the posterior's attrs."""
    n_groups, n_classes = data.mix.shape[1:]
    observation = np.arange(data.ratio.size)
    coords = {
        "group": list(range(1, n_groups + 1)),
        "duration_class": list(DURATION_LABELS[:n_classes]),
        "step": list(DURATION_LABELS[: n_classes - 1]),
        "observation": observation,
        "birth_share": np.arange(data.birth_shares.size),
    }
    dims = {
        "group_level": ["group"],
        "duration_step": ["step"],
        "duration_effect": ["duration_class"],
        "deviation_coef": ["group", "step"],
        "log_relative": ["group", "duration_class"],
        "ratio_fitted": ["observation"],
        "share_fitted": ["birth_share"],
    }
    obs = ("observation",)
    constant = {
        "observed_year": xr.DataArray(data.year, coords={"observation": observation}, dims=obs),
        "series": xr.DataArray(data.series.astype(str), coords={"observation": observation}, dims=obs),
        "ratio": xr.DataArray(data.ratio, coords={"observation": observation}, dims=obs),
        "mix": xr.DataArray(data.mix, dims=("observation", "group", "duration_class")),
        "birth_shares": xr.DataArray(data.birth_shares, dims="birth_share"),
    }
    return fit_model(
        group_fertility_model,
        data.model_kwargs(),
        settings,
        coords,
        dims,
        constant,
        check=["group_level", "duration_step", "deviation_coef", *MODEL_SCALARS],
        attrs={"component": "group fertility", "reference_year": int(data.reference_year)},
    )


def fit_group_fertility(
    registered: RegisteredGroups, settings: FitSettings = DEFAULT_FIT_SETTINGS, last_year: int | None = None
) -> az.InferenceData:
    """Fit the group fertility model to Norway's registered figures (`fertility_data.fertility_data`) of
    the years <= `last_year` (None: all; the levels are then stated for `last_year`, at the latest 2022)."""
    return fit_fertility_data(fertility_data(registered, last_year=last_year), settings)


def simulate_fertility_data(data: FertilityData, parameters: Mapping[str, Any], key: Array) -> FertilityData:
    """`data` with its TFR ratios and birth shares drawn from `group_fertility_model` at known
    `parameters` (its sampled sites: group_level (G,), duration_step (K - 1,), deviation_scale,
    deviation_coef (G, K - 1), convergence_rate, noise_sd, share_noise_sd, proxy_offset)."""
    kwargs = {**data.model_kwargs(), "log_ratio": None, "log_shares": None}
    known = {name: jnp.asarray(value) for name, value in parameters.items()}
    model = handlers.seed(handlers.condition(group_fertility_model, known), key)
    trace = handlers.trace(model).get_trace(**kwargs)
    return replace(
        data,
        ratio=np.exp(np.asarray(trace["log_ratio"]["value"], dtype=float)),
        birth_shares=np.exp(np.asarray(trace["log_shares"]["value"], dtype=float)),
    )


FATHER_STREAM: int = 1
"""Key stream of each path's father shares (`randomness.path_shocks`; stream 0 picks its posterior draw)."""


def father_shares(keys: Array, mean: np.ndarray, concentration: float) -> np.ndarray:
    """One Beta(k m, k (1 - m)) draw per path and group (n, G), by inversion of the uniforms Phi(z) of each
    path's normal shocks z (stream `FATHER_STREAM`; exact, and cheaper to compile than JAX's gamma-based
    sampler)."""
    u = ndtr(np.asarray(path_shocks(keys, FATHER_STREAM, (mean.size,)), dtype=float))
    return np.asarray(betaincinv(concentration * mean, concentration * (1.0 - mean), u))


def _relative_factor(log_relative: np.ndarray, rate: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """exp(log r exp(-lambda (t - t0))) (n, Y, G, K) from log r (n, G, K), lambda (n,), t - t0 (Y,)."""
    shrink = np.exp(-rate[:, None] * offsets[None, :])
    return np.exp(log_relative[:, None] * shrink[:, :, None, None])


def group_fertility_paths(
    posterior: az.InferenceData,
    years: Sequence[int] | np.ndarray,
    paths: Paths,
    key: Array,
    cells: GroupCells = CELLS,
) -> xr.Dataset:
    """Per-path relative fertility by cell and the father shares of `paths` (a count n or path indices,
    `randomness.Paths`; coordinate `path` holds the indices). Path i uses `path_keys(key, paths)[i]` alone:
    its posterior draw (stream 0, `randomness.posterior_draws`) and its father shares (stream
    `FATHER_STREAM`), so it is the same in any chunk of paths.

    Returns fertility_factor (path, year, cell): the cell's TFR over the rest's, 1 for the rest and the
    Norwegian-born, r_{g,c}(t) for immigrants of group g at a duration in class c (the levels of the
    reference year t0 converging from there, `group_fertility_model`; years before t0 get the fitted
    past); share_immigrant_father (path, group): long-run share of an immigrant mother's children with an
    immigrant father; relative_level (path, group, duration_class): log r at t0; convergence_rate (path,).
    """
    years = np.asarray(years)
    if years.ndim != 1 or years.size == 0 or not np.issubdtype(years.dtype, np.integer):
        raise ValueError("years: must be a non-empty 1-D sequence of integer years")
    if np.any(np.diff(years) <= 0):
        raise ValueError("years: must be strictly increasing")
    for name in ("log_relative", "convergence_rate"):
        if name not in posterior["posterior"]:
            raise ValueError(f"posterior: no variable '{name}' (not a group fertility fit)")
    if "reference_year" not in posterior["posterior"].attrs:
        raise ValueError("posterior: no 'reference_year' attribute (not a group fertility fit)")
    reference = int(posterior["posterior"].attrs["reference_year"])
    keys = path_keys(key, paths)
    draws = posterior_draws(posterior, keys, ["log_relative", "convergence_rate"])
    log_relative = draws["log_relative"].astype(float)
    rate = draws["convergence_rate"].astype(float)
    if log_relative.shape[1] != cells.groups:
        raise ValueError(
            f"posterior: log_relative has {log_relative.shape[1]} groups, the cells {cells.groups}"
        )
    factor = _relative_factor(log_relative, rate, (years - reference).astype(float))
    by_duration = factor[..., duration_class(cells)]  # (n, Y, G, D + 1)
    ones = np.ones(by_duration.shape[:2])
    by_cell = cells.by_cell(ones, by_duration, np.ones((*by_duration.shape[:2], cells.groups)), axis=-1)
    shares = father_shares(keys, np.asarray(SHARE_IMMIGRANT_FATHER), FATHER_SHARE_CONCENTRATION)
    return xr.Dataset(
        {
            "fertility_factor": (("path", "year", "cell"), by_cell),
            "share_immigrant_father": (("path", "group"), shares),
            "relative_level": (("path", "group", "duration_class"), log_relative),
            "convergence_rate": (("path",), rate),
        },
        coords={
            "path": path_indices(paths),
            "year": years,
            "cell": list(cells.labels()),
            "group": list(range(1, cells.groups + 1)),
            "duration_class": list(DURATION_LABELS),
        },
        attrs={
            "reference_year": reference,
            "fertility_factor": "TFR over the rest's (the national path); rest and Norwegian-born 1",
            "relative_level": "log TFR ratio to the rest in the reference year",
        },
    )
