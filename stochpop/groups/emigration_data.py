"""The registered data of the grouped emigration model (`stochpop.groups.emigration`): stocks at risk by
cell, sex and age 0..69, the national age pattern and the registered emigration aggregates, summed by
effect class. "Reference" is `../shared/reference/ssb-2018-projections.txt`, "findings"
`../shared/reference/emigration-findings.md`.

Registered emigrations of the year (`RegisteredGroups`), as disjoint aggregates (`emigration_data`): the
national total 1990-1998 (Eurostat, which equals SSB's in 1999-2007; 1996 missing); 1999-2007 the
emigrations of foreign citizens and of everyone else (SSB); 2013 those of immigrants and of everyone else,
2014 of immigrants of groups 1 + 2, of group 3 and of everyone else (IMDi). Eurostat's totals of 2008-2015
are 8-26% below SSB's where both are here (2013: 26 523 vs IMDi's 35 715; 2014: 29 308 vs 31 875) and are
not used for the level; only Eurostat's female emigrations by year (2008, 2012-2014) enter. Foreign
citizens' aggregates carry kappa (the model's foreign-citizen proxy factor) on the immigrants' classes
(`EmigrationData.obs_kappa`).

Stocks at risk (`at_risk`): each 1 January stock aged one year, the year's births at age 0 (the kernel's
convention). 2006-2014: the replay (`replay.replay`, jump-off of 2006 with registered flows). 1990-2005
(no group stocks registered): 2006's composition within immigrants and within the Norwegian-born (group x
duration x age) scaled per sex to the registered totals of the year (IMDi main groups; the broken zero of
2001's Norwegian-born men interpolated), the rest the HMD population less both, births split over cells
as in 2006. So the duration mix before 2006 is 2006's: a documented approximation.

Cells sharing every effect are summed into `N_CLASSES` effect classes (rest; group x ladder class; the
Norwegian-born by group) for the fit: exact, as every aggregate covers whole classes.
"""

from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from stochpop.conventions import MIGRATION_MAX_AGE, SEXES
from stochpop.demography.ageing import age_one_year
from stochpop.demography.groups import GroupCells
from stochpop.groups.jump_off import CELLS, EMIGRATION_LOG_ODDS
from stochpop.groups.registered import RegisteredGroups, interpolated, registered_until
from stochpop.groups.replay import emigration_pattern, replay

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


def _registered_by_sex(reg: RegisteredGroups, category: str, years: np.ndarray) -> np.ndarray:
    """IMDi's registered `category` by sex (years, 2), non-positive values (2001's Norwegian-born men)
    treated as missing and interpolated (`interpolated`)."""
    series = reg.main_groups.sel(category=category)
    return np.stack(
        [interpolated(series.sel(sex=sex).where(series.sel(sex=sex) > 0), years).values for sex in SEXES], -1
    )


def fitted_until(last_year: int | None) -> int:
    """The last fitted year when the fit may see the events of years <= `last_year` (None: all):
    `LAST_YEAR` or `last_year`, whichever is earlier (ValueError before 2008, the first year of Eurostat's
    emigrations by age, the age pattern's data)."""
    if last_year is None:
        return LAST_YEAR
    if last_year < EUROSTAT_BELOW_SSB_FROM:
        raise ValueError(f"last_year: {last_year} is before {EUROSTAT_BELOW_SSB_FROM} (emigrations by age)")
    return min(LAST_YEAR, last_year)


def at_risk(reg: RegisteredGroups, cells: GroupCells = CELLS, last: int = LAST_YEAR) -> xr.DataArray:
    """Persons at risk of emigrating (year, cell, sex, age 0..69) in `FIRST_YEAR`..`last`: the 1 January
    stock aged one year, the year's births at age 0 (module docstring)."""
    replayed = replay(reg, REPLAY_START, last + 1, cells)
    replay_years = np.arange(REPLAY_START, last + 1)
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
            "year": np.arange(FIRST_YEAR, last + 1),
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


def emigration_data(
    reg: RegisteredGroups, cells: GroupCells = CELLS, last_year: int | None = None
) -> EmigrationData:
    """The registered data of the fit (module docstring): stocks at risk summed by effect class.
    `last_year`: the last event year it may see (None: all): the years end in `fitted_until(last_year)`,
    and everything is built from the data known on 1 January `last_year` + 1 (`registered_until`: the
    age pattern pools Eurostat's years <= `last_year`, the replay's stocks and flows end then)."""
    last = fitted_until(last_year)
    reg = registered_until(reg, last_year)
    stocks = at_risk(reg, cells, last)
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
        offset=age_offset(reg, last),
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
