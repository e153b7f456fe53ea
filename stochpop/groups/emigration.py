"""Emigration of BEFINN's groups, Bayesian (issue #14, item 2): yearly emigration probabilities by cell of
`GroupCells` (the rest; immigrants of country group g by duration of stay d; the Norwegian-born to two
immigrant parents by mother's group g), sex and age at end of year 0..69 (none at 70+, reference ch. 8.2),
pooled across cells and fitted to the registered aggregates. "Reference" is
`../shared/reference/ssb-2018-projections.txt`, "findings" `../shared/reference/emigration-findings.md`.

Model, year t, cell c, sex s, age x:

    logit p(t, c, s, x) = L_t + k(c) + f [s = female] + o(s, x)

* L_t, the level of every cell, moves with the business cycle (findings: fell 2004-08, rose 2009 and
  2013): a stationary AR(1) around mu (persistence phi, shock scale sigma) over the fitted years
  `FIRST_YEAR`..`LAST_YEAR` (`processes.AR1`; centred, as most years' totals pin their level).
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

Data (`RegisteredGroups`), registered emigrations of the year, as disjoint aggregates (`emigration_data`):
the national total 1990-1998 (Eurostat, which equals SSB's in 1999-2007; 1996 missing); 1999-2007 the
emigrations of foreign citizens and of everyone else (SSB); 2013 those of immigrants and of everyone else,
2014 of immigrants of groups 1 + 2, of group 3 and of everyone else (IMDi). Eurostat's totals of 2008-2015
are 8-26% below SSB's where both are here (2013: 26 523 vs IMDi's 35 715; 2014: 29 308 vs 31 875) and are
not used for the level; only Eurostat's female share of emigrations enters, as a binomial.
Foreign citizens are not immigrants (naturalised immigrants are Norwegian citizens, some Norwegian-born
are foreign citizens): their emigrations are kappa times the immigrants', kappa ~ LogNormal(0,
`KAPPA_LOG_SD`), the rest of the year's total everyone else's; no year has both figures, so kappa rests
on its prior and the composition the other years imply. Counts have the mean and variance of a negative
binomial: mean the sum over the aggregate's cells of p x stock at risk, variance mean + (cv mean)^2, cv
per source (registered, foreign-citizen proxy) lognormal (`CV_PRIOR`): registration error is real
(findings: 19-30% of immigrant emigrations administrative, EEA emigration under-registered after 2010).
Every aggregate is thousands of events, so the likelihood is the normal of that mean and variance (and the
female share's binomial its normal approximation): the same to well under 1% there, and its log density
keeps its precision in single precision, the negative binomial's (lgamma of 30 000) does not.

Stocks at risk (`at_risk`): each 1 January stock aged one year, the year's births at age 0 (the kernel's
convention). 2006-2014: the replay (`replay.replay`, jump-off of 2006 with registered flows). 1990-2005
(no group stocks registered): 2006's composition within immigrants and within the Norwegian-born (group x
duration x age) scaled per sex to the registered totals of the year (IMDi main groups; the broken zero of
2001's Norwegian-born men interpolated), the rest the HMD population less both, births split over cells
as in 2006. So the duration mix before 2006 is 2006's: a documented approximation.

Cells sharing every effect are summed into `N_CLASSES` effect classes (rest; group x ladder class; the
Norwegian-born by group) for the fit: exact, as every aggregate covers whole classes.

What the data cannot tell, and so rests on the priors: the duration ladder (no emigration by duration is
registered here; its posterior stays near the findings' ladder), the split of groups 1 and 2, the
Norwegian-born's weight w, kappa; the levels of 2008-2012 (no usable total: the AR(1) bridges them); and,
in years with one total, the yearly level from registration error (both move the total alike, so the
predictive intervals of those totals are wide).

Forecast (`group_emigration_paths`): each path takes one posterior draw and runs its AR(1) level on from
the draw's level of `LAST_YEAR` through the requested years; every other effect is the draw's.
"""

from dataclasses import dataclass, field
from itertools import pairwise
from types import ModuleType

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
from stochpop.components.settings import DEFAULT_FIT_SETTINGS, FitSettings
from stochpop.conventions import MIGRATION_MAX_AGE, SEXES
from stochpop.demography.ageing import age_one_year
from stochpop.demography.groups import GroupCells
from stochpop.groups.jump_off import CELLS, EMIGRATION_LOG_ODDS
from stochpop.groups.registered import RegisteredGroups, interpolated
from stochpop.groups.replay import emigration_pattern, replay

Array = jax.Array

FIRST_YEAR: int = 1990
"""First fitted year: Eurostat's national emigration totals start in 1990."""
LAST_YEAR: int = 2014
"""Last fitted year: the last with registered emigration of immigrants (IMDi 2014)."""
REPLAY_START: int = 2006
"""First year of the grouped replay (the first with immigrants by age group and country group)."""
N_AGES: int = 1 + (MIGRATION_MAX_AGE or 69)
"""Ages 0..69 at end of year (SSB: no emigration at 70+, ch. 8.2)."""
LADDER_CLASSES: tuple[int, ...] = tuple(first for first, _ in EMIGRATION_LOG_ODDS)
"""First durations of the findings' duration classes 0-2, 3-5, 6-10, 11-15, 16+ (the last open)."""
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
EUROSTAT_BELOW_SSB_FROM: int = 2008
"""From this year Eurostat's emigration totals fall below SSB's (module docstring); before it they are
SSB's (equal to `flows_citizenship`'s totals 1999-2007)."""
SOURCES: tuple[str, ...] = ("registered", "foreign_citizens")
"""Observation sources, each with its own cv."""

N_CLASSES: int = 1 + 3 * len(LADDER_CLASSES) + 3
"""Effect classes: the rest; immigrants of groups 1-3 by ladder class; the Norwegian-born of groups 1-3."""


def effect_class(cells: GroupCells = CELLS) -> np.ndarray:
    """The effect class of each cell (C,): 0 the rest, 1 + 5 (g - 1) + j immigrants of group g in ladder
    class j, 16 + (g - 1) the Norwegian-born of group g (`N_CLASSES`)."""
    if cells.groups != 3:
        raise ValueError(f"cells.groups must be 3 (SSB's country groups), not {cells.groups}")
    ladder = np.searchsorted(np.asarray(LADDER_CLASSES), np.arange(cells.durations), side="right") - 1
    classes = np.zeros(cells.size, dtype=int)
    for g in range(1, 4):
        for d in range(cells.durations):
            classes[cells.immigrant(g, d)] = 1 + (g - 1) * len(LADDER_CLASSES) + ladder[d]
        classes[cells.norwegian_born(g)] = 1 + 3 * len(LADDER_CLASSES) + (g - 1)
    return classes


def _members(*groups: int, norwegian_born: bool = False, rest: bool = False) -> np.ndarray:
    """Indicator (N_CLASSES,) of the immigrants of `groups`, optionally the Norwegian-born and the rest."""
    members = np.zeros(N_CLASSES)
    n = len(LADDER_CLASSES)
    for g in groups:
        members[1 + (g - 1) * n : 1 + g * n] = 1.0
    if norwegian_born:
        members[1 + 3 * n :] = 1.0
    members[0] = float(rest)
    return members


IMMIGRANTS = _members(1, 2, 3)
OTHERS = _members(norwegian_born=True, rest=True)


@dataclass(frozen=True)
class EmigrationData:
    """What the model is fitted to (module docstring).

    years (T,); at_risk (T, K, 2, A) persons by effect class (`effect_class`), sex, age 0..69 at end of
    year; offset (2, A) log age pattern o; observations (N each): obs_year index into years, obs_weights
    (N, K) and obs_kappa (N, K) (the aggregate's mean is (obs_weights + kappa obs_kappa) . expected
    emigrations by class), obs_source index into `SOURCES`, counts (events), labels; the female share:
    share_year index (M,), female and total emigrations (M,).
    """

    years: np.ndarray
    at_risk: np.ndarray
    offset: np.ndarray
    obs_year: np.ndarray
    obs_weights: np.ndarray
    obs_kappa: np.ndarray
    obs_source: np.ndarray
    counts: np.ndarray
    labels: tuple[str, ...]
    share_year: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    female: np.ndarray = field(default_factory=lambda: np.zeros(0))
    total: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        t, n = len(self.years), len(self.counts)
        shapes = {
            "at_risk": (self.at_risk, (t, N_CLASSES, 2, N_AGES)),
            "offset": (self.offset, (2, N_AGES)),
            "obs_year": (self.obs_year, (n,)),
            "obs_weights": (self.obs_weights, (n, N_CLASSES)),
            "obs_kappa": (self.obs_kappa, (n, N_CLASSES)),
            "obs_source": (self.obs_source, (n,)),
            "female": (self.female, self.share_year.shape),
            "total": (self.total, self.share_year.shape),
        }
        for name, (value, shape) in shapes.items():
            if np.shape(value) != shape:
                raise ValueError(f"EmigrationData.{name} must have shape {shape}, not {np.shape(value)}")
        if len(self.labels) != n:
            raise ValueError(f"EmigrationData.labels must have {n} entries, not {len(self.labels)}")
        for name in ("at_risk", "counts", "female", "total"):
            value = np.asarray(getattr(self, name))
            if not np.all(np.isfinite(value)) or np.any(value < 0):
                raise ValueError(f"EmigrationData.{name} must be finite and non-negative")
        if not np.all(np.isfinite(self.offset)):
            raise ValueError("EmigrationData.offset must be finite")
        for name, bound in (("obs_year", t), ("share_year", t), ("obs_source", len(SOURCES))):
            index = np.asarray(getattr(self, name))
            if np.any((index < 0) | (index >= bound)):
                raise ValueError(f"EmigrationData.{name} must index 0..{bound - 1}")
        if np.any(self.female > self.total):
            raise ValueError("EmigrationData.female must not exceed total")


def class_log_odds(group: Array, steps: Array, norwegian_born: Array, xp: ModuleType = jnp) -> Array:
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
    (T', K, 2, A), for the levels `level` (T',)."""
    sex = jnp.stack([female, 0.0])
    eta = level[:, None, None, None] + k[:, None, None] + sex[:, None] + offset
    return (jax.nn.sigmoid(eta) * at_risk).sum(-1)


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


def _registered_by_sex(reg: RegisteredGroups, category: str, years: np.ndarray) -> np.ndarray:
    """IMDi's registered `category` by sex (years, 2), non-positive values (2001's Norwegian-born men)
    treated as missing and interpolated (`interpolated`)."""
    series = reg.main_groups.sel(category=category)
    return np.stack(
        [interpolated(series.sel(sex=sex).where(series.sel(sex=sex) > 0), years).values for sex in SEXES], -1
    )


def at_risk(reg: RegisteredGroups, cells: GroupCells = CELLS) -> xr.DataArray:
    """Persons at risk of emigrating (year, cell, sex, age 0..69) in `FIRST_YEAR`..`LAST_YEAR`: the 1
    January stock aged one year, the year's births at age 0 (module docstring)."""
    replayed = replay(reg, REPLAY_START, LAST_YEAR + 1, cells)
    replay_years = np.arange(REPLAY_START, LAST_YEAR + 1)
    population = replayed["population"].sel(year=replay_years).transpose("year", "cell", "sex", "age").values
    births = replayed["births"].sel(event_year=replay_years).transpose("event_year", "cell", "sex").values
    early = np.arange(FIRST_YEAR, REPLAY_START)
    kinds = {"immigrants": slice(1, 1 + cells.groups * cells.durations)}
    kinds["norwegian_born"] = slice(cells.norwegian_born(1), cells.size)
    base, base_births = population[0], births[0]
    scaled = np.zeros((early.size, *base.shape))
    for category, cell_slice in kinds.items():
        factor = _registered_by_sex(reg, category, early) / _registered_by_sex(
            reg, category, replay_years[:1]
        )
        scaled[:, cell_slice] = base[cell_slice] * factor[:, None, :, None]
    hmd = reg.population.sel(year=early).transpose("year", "sex", "age").values
    scaled[:, cells.rest] = np.maximum(hmd - scaled[:, 1:].sum(1), 0.0)
    total_births = reg.births.sel(year=early).transpose("year", "sex").values
    early_births = total_births[:, None, :] * base_births / base_births.sum(0)
    stocks = np.concatenate([scaled, population])
    newborns = np.concatenate([early_births, births])
    aged = np.asarray(age_one_year(stocks, newborns, np))[..., :N_AGES]
    return xr.DataArray(
        aged,
        dims=("year", "cell", "sex", "age"),
        coords={
            "year": np.arange(FIRST_YEAR, LAST_YEAR + 1),
            "cell": list(cells.labels()),
            "sex": list(SEXES),
            "age": np.arange(N_AGES),
        },
        attrs={"units": "persons"},
    )


def age_offset(reg: RegisteredGroups, weights_year: int = LAST_YEAR) -> np.ndarray:
    """o(s, x) (2, A): log of Norway's emigration pattern (`replay.emigration_pattern`) over its mean over
    each sex's HMD population of 1 January `weights_year` aged one year (ages 0..69)."""
    pattern = emigration_pattern(reg, reg.population.sizes["age"])[:, :N_AGES]
    if np.any(pattern <= 0):
        raise ValueError("eurostat: the national emigration pattern is zero at some age 0..69")
    stock = reg.population.sel(year=weights_year).transpose("sex", "age").values
    newborns = reg.births.sel(year=weights_year).transpose("sex").values
    weights = np.asarray(age_one_year(stock, newborns, np))[:, :N_AGES]
    mean = (pattern * weights).sum(-1, keepdims=True) / weights.sum(-1, keepdims=True)
    return np.log(pattern / mean)


Observation = tuple[str, int, np.ndarray, np.ndarray, int, float]
"""(label, year index, weights, kappa weights, source index, count) of one aggregate."""


def _observations(reg: RegisteredGroups, years: np.ndarray) -> list[Observation]:
    """The disjoint registered aggregates of `years` (module docstring)."""
    rows: list[Observation] = []
    none = np.zeros(N_CLASSES)
    totals = reg.eurostat_totals.sel(flow="emigration").dropna("year")
    citizenship = reg.flows_citizenship.sel(flow="emigration")
    for t, year in enumerate(years):
        if year in citizenship["year"].values:
            foreign = float(citizenship.sel(year=year, category="foreign_citizens"))
            others = float(citizenship.sel(year=year, category="all")) - foreign
            rows.append((f"{year} foreign citizens", t, none, IMMIGRANTS, 1, foreign))
            rows.append((f"{year} all but foreign citizens", t, IMMIGRANTS + OTHERS, -IMMIGRANTS, 1, others))
        elif year in reg.flows_imdi["year"].values:
            flows = reg.flows_imdi.sel(year=year, flow="emigration")
            immigrants = float(flows.sel(category="immigrants"))
            others = float(flows.sel(category="all")) - immigrants
            rows.append((f"{year} all but immigrants", t, OTHERS, none, 0, others))
            if year in reg.flows_by_region["year"].values:
                region = reg.flows_by_region.sel(year=year, flow="emigration")
                for label, groups, code in (("groups 1+2", (1, 2), "1"), ("group 3", (3,), "2")):
                    count = float(region.sel(region2=code))
                    rows.append((f"{year} immigrants {label}", t, _members(*groups), none, 0, count))
            else:
                rows.append((f"{year} immigrants", t, IMMIGRANTS, none, 0, immigrants))
        elif year < EUROSTAT_BELOW_SSB_FROM and year in totals["year"].values:
            rows.append((f"{year} all", t, IMMIGRANTS + OTHERS, none, 0, float(totals.sel(year=year))))
    return rows


def emigration_data(reg: RegisteredGroups, cells: GroupCells = CELLS) -> EmigrationData:
    """The registered data of the fit (module docstring): stocks at risk summed by effect class."""
    stocks = at_risk(reg, cells)
    years = stocks["year"].values
    classes = effect_class(cells)
    by_class = np.zeros((years.size, N_CLASSES, 2, N_AGES))
    for k in range(N_CLASSES):
        by_class[:, k] = stocks.values[:, classes == k].sum(1)
    rows = _observations(reg, years)
    by_sex = reg.eurostat.sel(flow="emigration", age=slice(0, N_AGES - 1)).sum("age", skipna=False)
    by_sex = by_sex.dropna("year", how="any")
    share_years = [int(y) for y in by_sex["year"].values if years[0] <= y <= years[-1]]
    return EmigrationData(
        years=years,
        at_risk=by_class,
        offset=age_offset(reg),
        obs_year=np.array([row[1] for row in rows], dtype=int),
        obs_weights=np.array([row[2] for row in rows]),
        obs_kappa=np.array([row[3] for row in rows]),
        obs_source=np.array([row[4] for row in rows], dtype=int),
        counts=np.array([row[5] for row in rows]),
        labels=tuple(row[0] for row in rows),
        share_year=np.array([y - years[0] for y in share_years], dtype=int),
        female=by_sex.sel(year=share_years, sex="female").values,
        total=by_sex.sel(year=share_years).sum("sex").values,
    )


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
    registered: RegisteredGroups, settings: FitSettings = DEFAULT_FIT_SETTINGS
) -> az.InferenceData:
    """The model fitted to Norway's registered emigration (`emigration_data`), `FIRST_YEAR`..`LAST_YEAR`."""
    return fit_data(emigration_data(registered), settings)


def _stacked(idata: az.InferenceData, name: str) -> np.ndarray:
    """Posterior draws of `name` with chain and draw flattened into the first axis (S, ...)."""
    values = idata["posterior"][name]
    return np.asarray(values.values).reshape(-1, *values.shape[2:])


def replicated_counts(idata: az.InferenceData, key: Array) -> xr.DataArray:
    """Posterior predictive draws of the aggregates (draw, observation), events: negative binomial with
    each draw's expected counts and cv (`group_emigration_model`)."""
    mean = _stacked(idata, "expected_counts")
    cv = _stacked(idata, "cv")[:, np.asarray(idata["constant_data"]["obs_source"].values)]
    draws = dist.Normal(jnp.asarray(mean), count_sd(jnp.asarray(mean), jnp.asarray(cv))).sample(key)
    return xr.DataArray(
        np.asarray(draws, dtype=float),
        dims=("draw", "observation"),
        coords={"observation": idata["posterior"]["observation"].values},
        attrs={"units": "events"},
    )


def group_emigration_paths(
    posterior: az.InferenceData,
    years: np.ndarray,
    n_paths: int,
    key: Array,
    cells: GroupCells = CELLS,
) -> xr.DataArray:
    """Emigration probabilities (path, year, cell, sex, age 0..69) for future `years` (after the fit's last
    year, increasing), float64 in [0, 1); 0 at ages 70+ (not returned). Each path has its own posterior
    draw (coordinate `draw` along path; without replacement while there are draws enough) and its own
    level path, the AR(1) run on from that draw's level of the last fitted year. Vectorised over paths.
    Memory: n_paths x len(years) x C x 2 x 70 doubles."""
    years = np.asarray(years)
    last = int(posterior["constant_data"]["year"].values[-1])
    if years.ndim != 1 or years.size == 0 or np.any(np.diff(years) <= 0):
        raise ValueError("years must be a non-empty increasing 1-d array")
    if years[0] <= last:
        raise ValueError(f"years must follow the fit's last year {last}, not start at {years[0]}")
    if n_paths < 1:
        raise ValueError(f"n_paths must be at least 1, not {n_paths}")
    level = _stacked(posterior, "level")
    n_draws = level.shape[0]
    k_draw, k_shock = jax.random.split(key)
    draws = np.asarray(jax.random.choice(k_draw, n_draws, (n_paths,), replace=n_paths > n_draws))
    mu, phi, sigma = (
        _stacked(posterior, name)[draws] for name in ("level_mean", "persistence", "level_scale")
    )
    shocks = jax.random.normal(k_shock, (int(years[-1]) - last, n_paths))
    future = np.asarray(ar1_recursion(jnp.asarray(level[draws, -1]), mu, phi, sigma, shocks), dtype=float)
    future = future[years - last - 1].T  # (P, Y)
    classes = class_log_odds(
        _stacked(posterior, "group_log_odds")[draws],
        _stacked(posterior, "duration_step")[draws],
        _stacked(posterior, "norwegian_born_log_odds")[draws],
        xp=np,
    )[:, effect_class(cells)]  # (P, C)
    female = _stacked(posterior, "female_log_odds")[draws]
    sex = np.stack([female, np.zeros_like(female)], -1)  # (P, 2)
    offset = np.asarray(posterior["constant_data"]["offset"].values, dtype=float)
    eta = (
        future[:, :, None, None, None]
        + classes[:, None, :, None, None]
        + sex[:, None, None, :, None]
        + offset[None, None, None]
    )
    probabilities = np.minimum(expit(eta), np.nextafter(1.0, 0.0))
    return xr.DataArray(
        probabilities,
        dims=("path", "year", "cell", "sex", "age"),
        coords={
            "path": np.arange(n_paths),
            "draw": ("path", draws),
            "year": years,
            "cell": list(cells.labels()),
            "sex": list(SEXES),
            "age": np.arange(N_AGES),
        },
        attrs={"units": "probability of emigrating in the year, on the stock aged one year"},
    )
