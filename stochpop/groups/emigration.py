"""Emigration of BEFINN's groups, Bayesian (issue #14, item 2): yearly emigration probabilities by cell of
`GroupCells` (the rest; immigrants of country group g by duration of stay d; the Norwegian-born to two
immigrant parents by mother's group g), sex and age at end of year 0..69 (none at 70+, reference ch. 8.2),
pooled across cells and fitted to the registered aggregates (`emigration_data`, which also documents the
data and the stocks at risk). "Reference" is `../shared/reference/ssb-2018-projections.txt`, "findings"
`../shared/reference/emigration-findings.md`.

Model, year t, cell c, sex s, age x:

    logit p(t, c, s, x) = L_t + k(c) + f [s = female] + o(s, x)

* L_t, the level of every cell, moves with the business cycle (findings: fell 2004-08, rose 2009 and
  2013): a stationary AR(1) around mu (persistence phi, shock scale sigma) over the fitted years 1990-2014
  (`emigration_data.FIRST_YEAR`..`LAST_YEAR`; `processes.AR1`; centred, as most years' totals pin their
  level).
* k(c), the cell's log odds ratio against the rest (k = 0 for the rest):
  - immigrants of group g with duration d: a_g + delta(d). delta is monotone non-increasing: on the
    findings' duration classes 0-2, 3-5, 6-10, 11-15, 16+ (`LADDER_CLASSES`), delta(16+) = 0 and delta of
    class j = s_j + ... + s_3, the steps s >= 0 each lognormal with median the findings' difference of log
    odds (`jump_off.EMIGRATION_LOG_ODDS`: 1.614, 1.394, 0.987, 0.748, 0) and log sd `STEP_LOG_SD`.
  - groups ordered 1 > 2 > 3 > rest (ch. 8.2; findings): a_3 > 0, a_2 = a_3 + gap_23, a_1 = a_2 + gap_12,
    gaps >= 0. Groups 1 and 2 are registered only together (IMDi's 2014 world region 1): their split
    rests on this prior ordering and on group 2's changing weight among the immigrants 1999-2014, not on
    a registered figure of either.
  - Norwegian-born to immigrant parents of group g: w a_g, w ~ Beta(2, 2): between the rest and their
    mother's group's longest-duration immigrants (ch. 8.2: "significantly higher" than the rest, below
    the immigrants). No registered figure separates their emigration here: w is its prior.
* f, women's log odds ratio: prior Normal(-0.142, `FEMALE_SD`) (findings: women about 13% lower odds);
  informed by Eurostat's female share of emigrations (2008, 2012-2014: its years by sex and age).
* o(s, x), the age pattern shared by every kind: the log of Norway's emigration rates by sex and age
  (`replay.emigration_pattern`, Eurostat 2008-2015 pooled), each sex's divided by its mean over that
  sex's population at risk of 2014 (so f alone sets the women's level). SSB uses one probability for both
  sexes under 15 (ch. 8.2); here the national pattern's own sex shape is kept at those ages.

Why logit: the findings' duration ladder and sex effect are log odds ratios of a logit model, priors as
published; and the logit keeps every probability below 1 at any level (a log-hazard would need a cap when
the cycle lifts young immigrants of short duration, whose rates reach 25%, findings).

Observations: the registered aggregates of `emigration_data`. Foreign citizens are not immigrants
(naturalised immigrants are Norwegian citizens, some Norwegian-born are foreign citizens): their
emigrations are kappa times the immigrants', kappa ~ LogNormal(0, `KAPPA_LOG_SD`), the rest of the year's
total everyone else's; no year has both figures, so kappa rests on its prior and the composition the other
years imply. Counts have the mean and variance of a negative binomial: mean the sum over the aggregate's
cells of p x stock at risk, variance mean + (cv mean)^2, cv per source (registered, foreign-citizen proxy)
lognormal (`CV_PRIOR`): registration error is real (findings: 19-30% of immigrant emigrations
administrative, EEA emigration under-registered after 2010). Every aggregate is thousands of events, so
the likelihood is the normal of that mean and variance (and Eurostat's female share's binomial its normal
approximation): the same to well under 1% there, and its log density keeps its precision in single
precision, the negative binomial's (lgamma of 30 000) does not.

What the data cannot tell, and so rests on the priors: the duration ladder (no emigration by duration is
registered here; its posterior stays near the findings' ladder), the split of groups 1 and 2, the
Norwegian-born's weight w, kappa; the levels of 2008-2012 (no usable total: the AR(1) bridges them); and,
in years with one total, the yearly level from registration error (both move the total alike, so the
predictive intervals of those totals are wide).

Forecast (`emigration_drivers`, `emigration_probabilities`; labelled: `group_emigration_paths`): path i
takes the posterior draw and the level shocks of `randomness.path_keys(key, paths)[i]` alone (so a path is
the same in any chunk of paths) and runs its AR(1) level on from the draw's level of the last fitted year
through the requested years; every other effect is the draw's.
"""

from itertools import pairwise
from types import ModuleType
from typing import NamedTuple, TypeVar

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import xarray as xr
from scipy.special import expit

from stochpop.components.fitting import fit_model
from stochpop.components.processes import AR1, ar1_recursion
from stochpop.components.randomness import Paths, path_indices, path_keys, path_shocks, posterior_draws
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.conventions import SEXES
from stochpop.demography.groups import GroupCells
from stochpop.groups.emigration_data import (
    LADDER_CLASSES,
    N_AGES,
    SOURCES,
    EmigrationData,
    effect_class,
    emigration_data,
)
from stochpop.groups.jump_off import CELLS, EMIGRATION_LOG_ODDS
from stochpop.groups.registered import RegisteredGroups

Array = jax.Array
Values = TypeVar("Values", Array, np.ndarray)
"""JAX or NumPy arrays (functions taking `xp`)."""

LADDER_STEPS: tuple[float, ...] = tuple(float(a - b) for (_, a), (_, b) in pairwise(EMIGRATION_LOG_ODDS))
"""Differences of the findings' log odds between neighbouring duration classes: 0.220, 0.407, 0.239,
0.748."""
STEP_LOG_SD: float = 0.5
"""Log sd of each duration step's prior: the findings' ladder is conditional on reason, labour status and
family; the marginal ladder may differ, by a factor e (x 2.7) either way at 2 sd."""
FEMALE_LOG_ODDS: float = -0.142
"""Women's log odds ratio of emigrating (findings, t = -9.1; about 13% lower odds)."""
FEMALE_SD: float = 0.1
"""Prior sd of the women's effect: the findings' estimate is an immigrant one, given controls; 0.1 lets the
national figure differ by 20% at 2 sd."""
GROUP_SCALE: float = 2.0
"""HalfNormal scale of a_3 and of the gaps between groups (log odds): weakly informative, a gap the size
of the whole duration ladder (1.6) is within one sd."""
LEVEL_MEAN: tuple[float, float] = (-6.0, 1.0)
"""Normal prior of mu, the logit of the rest's mean probability (sampled standardised): centred on 0.25%,
below every immigrant rate of the findings (refugees 0.8% and up; the rest lowest, ch. 8.2); 0.03% to
1.8% within 2 sd."""
LEVEL_SCALE: tuple[float, float] = (0.1, 0.5)
"""Median and log sd of the lognormal prior of the level's yearly shock sigma (95% between 0.04 and 0.27):
Eurostat's national totals 1990-2007 change by up to 25% a year, and the findings' cycle is real, so the
prior keeps sigma away from 0 (a half-normal's mass at 0 made a funnel with the centred levels)."""
KAPPA_LOG_SD: float = 0.2
"""Log sd of kappa, foreign citizens' emigrations over immigrants': no year has both (±40% at 2 sd)."""
CV_PRIOR: tuple[float, float] = (0.05, 0.5)
"""Median and log sd of the lognormal prior of each source's coefficient of variation: registration error
is real (findings: 19-30% of immigrant emigrations registered administratively, with uncertain timing), so
the prior keeps cv away from 0 (95% between 1.9% and 13%; a judgement, not a published figure). A
half-normal's mass at 0 made a funnel with the yearly levels (divergences)."""


def class_log_odds(group: Values, steps: Values, norwegian_born: Values, xp: ModuleType = jnp) -> Values:
    """k of each effect class (..., K) from a (..., 3), the duration steps (..., 4) and the
    Norwegian-born's log odds (..., 3): 0 for the rest, a_g + delta(class) for immigrants."""
    tail = xp.cumsum(steps[..., ::-1], axis=-1)[..., ::-1]
    ladder = xp.concatenate([tail, xp.zeros_like(steps[..., :1])], axis=-1)
    immigrants = (group[..., :, None] + ladder[..., None, :]).reshape(*group.shape[:-1], -1)
    return xp.concatenate([xp.zeros_like(group[..., :1]), immigrants, norwegian_born], axis=-1)


@jax.jit
def _effects(lowest: Array, gaps: Array, steps: Array, weight: Array) -> tuple[Array, Array, Array, Array]:
    """a (3,) from a_3 and the gaps (a_1 - a_2, a_2 - a_3); w a (3,); delta by ladder class (5,); k (K,)."""
    group = lowest + jnp.stack([gaps.sum(), gaps[1], 0.0])
    born = weight * group
    ladder = class_log_odds(jnp.zeros(1), steps, jnp.zeros(0))[1:]
    return group, born, ladder, class_log_odds(group, steps, born)


@jax.jit
def _expected(level: Array, k: Array, female: Array, offset: Array, at_risk: Array) -> Array:
    """Expected emigrations (T', K, 2): sum over ages of logit^-1(L_t + k + f [female] + o) x at_risk
    (T', K, 2, A), for the levels `level` (T',) (`emigration_probabilities`)."""
    return (emigration_probabilities(level, k, jnp.stack([female, 0.0]), offset) * at_risk).sum(-1)


def group_emigration_model(data: EmigrationData) -> None:
    """The NumPyro model of the module docstring on `data`. Sites: level_mean (deterministic of the
    standardised level_mean_coef), persistence, level_scale, level (T,); duration_step (4,: 0-2 over 3-5,
    ..., 11-15 over 16+) and duration_log_odds (5,); group3_log_odds, group_gap (a_1 - a_2, a_2 - a_3),
    group_log_odds (3,); norwegian_born_weight, norwegian_born_log_odds (3,); female_log_odds; kappa;
    cv (sources,); expected_counts (N,), floored at one event (a kappa large enough would make "all but
    foreign citizens" negative); counts (N,) and female (M,) observed."""
    n_years = len(data.years)
    mu = numpyro.deterministic(
        "level_mean", LEVEL_MEAN[0] + LEVEL_MEAN[1] * numpyro.sample("level_mean_coef", dist.Normal())
    )
    phi = numpyro.sample("persistence", dist.Beta(2.0, 1.5))
    sigma = numpyro.sample("level_scale", dist.LogNormal(np.log(LEVEL_SCALE[0]), LEVEL_SCALE[1]))
    level = numpyro.sample("level", AR1(mu, phi, sigma, n_years))
    steps = numpyro.sample(
        "duration_step", dist.LogNormal(jnp.log(jnp.asarray(LADDER_STEPS)), STEP_LOG_SD).to_event(1)
    )
    lowest = numpyro.sample("group3_log_odds", dist.HalfNormal(GROUP_SCALE))
    gaps = numpyro.sample("group_gap", dist.HalfNormal(GROUP_SCALE).expand([2]).to_event(1))
    weight = numpyro.sample("norwegian_born_weight", dist.Beta(2.0, 2.0))
    female = numpyro.sample("female_log_odds", dist.Normal(FEMALE_LOG_ODDS, FEMALE_SD))
    kappa = numpyro.sample("kappa", dist.LogNormal(0.0, KAPPA_LOG_SD))
    cv = numpyro.sample(
        "cv", dist.LogNormal(np.log(CV_PRIOR[0]), CV_PRIOR[1]).expand([len(SOURCES)]).to_event(1)
    )

    group, born, ladder, k = _effects(lowest, gaps, steps, weight)
    numpyro.deterministic("group_log_odds", group)
    numpyro.deterministic("norwegian_born_log_odds", born)
    numpyro.deterministic("duration_log_odds", ladder)
    observed, position = np.unique(np.concatenate([data.obs_year, data.share_year]), return_inverse=True)
    expected = _expected(level[observed], k, female, data.offset, data.at_risk[observed])
    n_obs = len(data.obs_year)
    mean = numpyro.deterministic(
        "expected_counts", _aggregates(expected, position[:n_obs], data.obs_weights, data.obs_kappa, kappa)
    )
    numpyro.sample(
        "counts", dist.Normal(mean, count_sd(mean, cv[data.obs_source])).to_event(1), obs=data.counts
    )
    if len(data.share_year):
        female_mean, female_sd = _female(expected, position[n_obs:], data.total)
        numpyro.sample("female", dist.Normal(female_mean, female_sd).to_event(1), obs=data.female)


@jax.jit
def _aggregates(expected: Array, position: Array, weights: Array, with_kappa: Array, kappa: Array) -> Array:
    """Mean of each aggregate (N,): (weights + kappa with_kappa) (N, K) . expected emigrations by class
    of its year (`position` into expected's years), at least one event."""
    by_class = expected.sum(-1)[position]
    return jnp.maximum(((weights + kappa * with_kappa) * by_class).sum(-1), 1.0)


@jax.jit
def _female(expected: Array, position: Array, total: Array) -> tuple[Array, Array]:
    """Mean and sd (M,) of the female emigrations of `total` (M,): the binomial's, with the expected
    female share of the year (`position` into expected's years)."""
    by_sex = expected.sum(1)[position]
    share = by_sex[:, 0] / by_sex.sum(-1)
    return total * share, jnp.sqrt(total * share * (1.0 - share))


@jax.jit
def count_sd(mean: Array, cv: Array) -> Array:
    """Standard deviation of a count with mean `mean` under the negative binomial of coefficient of
    variation `cv`: sqrt(mean + cv^2 mean^2)."""
    return jnp.sqrt(mean + (cv * mean) ** 2)


SCALARS: tuple[str, ...] = (
    "level_mean", "persistence", "level_scale", "group3_log_odds", "norwegian_born_weight",
    "female_log_odds", "kappa",
)  # fmt: skip
"""The scalar parameters of `group_emigration_model`."""


def fit_data(data: EmigrationData, settings: FitSettings = DEFAULT_FIT_SETTINGS) -> az.InferenceData:
    """Fit `group_emigration_model` to `data`; constant_data holds what the path sampler needs (years,
    offset) and the observations (counts, labels)."""
    dims = {
        "level": ["year"],
        "duration_step": ["step"],
        "duration_log_odds": ["duration_class"],
        "group_gap": ["gap"],
        "group_log_odds": ["group"],
        "norwegian_born_log_odds": ["group"],
        "cv": ["source"],
        "expected_counts": ["observation"],
    }
    coords = {
        "year": data.years,
        "step": [f"{a}-{b}" for a, b in pairwise(LADDER_CLASSES)],
        "duration_class": list(LADDER_CLASSES),
        "gap": ["1-2", "2-3"],
        "group": [1, 2, 3],
        "source": list(SOURCES),
        "observation": list(data.labels),
    }
    constant = {
        "offset": xr.DataArray(
            data.offset, dims=("sex", "age"), coords={"sex": list(SEXES), "age": np.arange(N_AGES)}
        ),
        "counts": xr.DataArray(data.counts, dims="observation", coords={"observation": list(data.labels)}),
        "obs_source": xr.DataArray(data.obs_source, dims="observation"),
        "year": xr.DataArray(data.years, dims="year", coords={"year": data.years}),
    }
    return fit_model(
        group_emigration_model,
        {"data": data},
        settings,
        coords=coords,
        dims=dims,
        constant_data=constant,
        check=[*SCALARS, "level", "duration_step", "group_gap", "cv"],
        attrs={"component": "group emigration"},
    )


def fit_group_emigration(
    registered: RegisteredGroups, settings: FitSettings = DEFAULT_FIT_SETTINGS, last_year: int | None = None
) -> az.InferenceData:
    """The model fitted to Norway's registered emigration (`emigration_data`) of the event years <=
    `last_year` (None: all), `FIRST_YEAR`..`LAST_YEAR` at most."""
    return fit_data(emigration_data(registered, last_year=last_year), settings)


def replicated_counts(idata: az.InferenceData, key: Array) -> xr.DataArray:
    """Posterior predictive draws of the aggregates (draw, observation), events: negative binomial with
    each draw's expected counts and cv (`group_emigration_model`), one per posterior draw (chains pooled)."""
    posterior = idata["posterior"][["expected_counts", "cv"]].stack(sample=("chain", "draw"))
    mean = posterior["expected_counts"].transpose("sample", ...).values
    source = idata["constant_data"]["obs_source"].values
    cv = posterior["cv"].transpose("sample", ...).values[:, source]
    draws = dist.Normal(jnp.asarray(mean), count_sd(jnp.asarray(mean), jnp.asarray(cv))).sample(key)
    return xr.DataArray(
        np.asarray(draws, dtype=float),
        dims=("draw", "observation"),
        coords={"observation": idata["posterior"]["observation"].values},
        attrs={"units": "events"},
    )


LEVEL_STREAM: int = 1
"""Key stream of each path's level shocks (`randomness.path_shocks`; stream 0 picks its posterior draw)."""
PATH_PARAMETERS: tuple[str, ...] = (
    "level", "level_mean", "persistence", "level_scale", "group_log_odds", "duration_step",
    "norwegian_born_log_odds", "female_log_odds",
)  # fmt: skip
"""The posterior variables a path draws (`randomness.posterior_draws`)."""

_ar1_paths = jax.jit(ar1_recursion)
"""`ar1_recursion` compiled once per shape."""


class EmigrationDrivers(NamedTuple):
    """The factored emigration probabilities of n paths and Y years, float64 log odds
    (`emigration_probabilities` combines them): level (n, Y) the business-cycle level L_t of each path and
    year; cell_log_odds (n, C) k(c) by cell of the cells (0 for the rest); sex_log_odds (n, 2) female f,
    male 0 (`SEXES` order); offset (2, 70) the age offset o(s, x), ages 0..69 at end of year."""

    level: np.ndarray
    cell_log_odds: np.ndarray
    sex_log_odds: np.ndarray
    offset: np.ndarray


def emigration_drivers(
    posterior: az.InferenceData,
    years: np.ndarray,
    paths: Paths,
    key: Array,
    cells: GroupCells = CELLS,
) -> EmigrationDrivers:
    """The drivers of `paths` (a count n or path indices, `randomness.Paths`) for future `years` (Y,),
    integers after the fit's last year, increasing. Path i uses `path_keys(key, paths)[i]` alone: its
    posterior draw (stream 0, `posterior_draws`) and its level's normal shocks (stream `LEVEL_STREAM`, one
    per year from the fit's last year + 1 to years[-1]), so it is the same in any chunk of paths."""
    years = np.asarray(years)
    last = int(posterior["constant_data"]["year"].values[-1])
    if years.ndim != 1 or years.size == 0 or not np.issubdtype(years.dtype, np.integer):
        raise ValueError("years must be a non-empty 1-d array of integer years")
    if np.any(np.diff(years) <= 0):
        raise ValueError("years must be increasing")
    if years[0] <= last:
        raise ValueError(f"years must follow the fit's last year {last}, not start at {years[0]}")
    if cells.groups != 3:
        raise ValueError(f"cells.groups must be 3 (SSB's country groups), not {cells.groups}")
    keys = path_keys(key, paths)
    draws = posterior_draws(posterior, keys, PATH_PARAMETERS)
    shocks = path_shocks(keys, LEVEL_STREAM, (int(years[-1]) - last,))
    mu, phi, sigma = (draws[name] for name in ("level_mean", "persistence", "level_scale"))
    level = np.asarray(_ar1_paths(draws["level"][:, -1], mu, phi, sigma, shocks.T), dtype=float)
    group, steps, born = (draws[n] for n in ("group_log_odds", "duration_step", "norwegian_born_log_odds"))
    classes = np.asarray(class_log_odds(group, steps, born, xp=np))
    female = draws["female_log_odds"].astype(float)
    return EmigrationDrivers(
        level=level[years - last - 1].T,
        cell_log_odds=classes[:, effect_class(cells)].astype(float),
        sex_log_odds=np.stack([female, np.zeros_like(female)], -1),
        offset=np.asarray(posterior["constant_data"]["offset"].transpose("sex", "age").values, dtype=float),
    )


def emigration_probabilities(
    level: Values,
    cell_log_odds: Values,
    sex_log_odds: Values,
    offset: Values | np.ndarray,
    xp: ModuleType = jnp,
) -> Values:
    """Emigration probabilities (..., C, 2, A) in [0, 1), logit^-1(L + k(c) + f(s) + o(s, x)), from the
    level (...), cell_log_odds (..., C), sex_log_odds (..., 2) and offset (2, A), in xp's float type (`xp`:
    jax.numpy, also under jit, or numpy)."""
    eta = (
        level[..., None, None, None]
        + cell_log_odds[..., :, None, None]
        + sex_log_odds[..., None, :, None]
        + offset
    )
    probability = expit(eta) if xp is np else jax.nn.sigmoid(eta)
    return xp.minimum(probability, 1.0 - xp.finfo(probability.dtype).epsneg)


def group_emigration_paths(
    posterior: az.InferenceData,
    years: np.ndarray,
    paths: Paths,
    key: Array,
    cells: GroupCells = CELLS,
) -> xr.DataArray:
    """Emigration probabilities (path, year, cell, sex, age 0..69) float64 in [0, 1) (0 at ages 70+, not
    returned) of `emigration_drivers(posterior, years, paths, key, cells)` by `emigration_probabilities`;
    coordinate `path` the path indices. Memory: n x Y x C x 2 x 70 doubles (a run uses the drivers)."""
    drivers = emigration_drivers(posterior, years, paths, key, cells)
    probabilities = emigration_probabilities(
        drivers.level,
        drivers.cell_log_odds[:, None],
        drivers.sex_log_odds[:, None],
        drivers.offset,
        xp=np,
    )
    return xr.DataArray(
        probabilities,
        dims=("path", "year", "cell", "sex", "age"),
        coords={
            "path": path_indices(paths),
            "year": np.asarray(years),
            "cell": list(cells.labels()),
            "sex": list(SEXES),
            "age": np.arange(N_AGES),
        },
        attrs={"units": "probability of emigrating in the year, on the stock aged one year"},
    )
