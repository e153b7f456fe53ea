"""The grouped jump-off state on 1 January of a year with registered group data: population by cell
(`stochpop.demography.groups.GroupCells`), sex and age 0..110+ (completed years), reconstructed where the
registers publish only margins, and draws of the reconstruction's spread.

What is registered (`registered.RegisteredGroups`) and what is reconstructed:

* Immigrants: registered by sex x IMDi's 7 age groups (2006-2013, 2015), by country group (country
  background, 2006-2022) and, in 2015, by duration class (0-4, 5-9, 10+) x 2 world regions (groups 1+2,
  group 3). Not registered: single ages, single durations, and durations before 2015. Reconstruction: a
  synthetic cohort seed seed[d, s, a] = F(Y - 1 - d) A(s, a - d) R(d) - the arrivals F of the year (total
  immigration times the immigrants' share of it, both registered or interpolated between registered
  years), their age-sex schedule at arrival A (Eurostat 2008-2022, by age at end of year) and their
  retention R(d) = prod_{k<d} (1 - L o(k)) under SSB's emigration odds ladder o by duration
  (emigration-findings.md: exp(1.614, 1.394, 0.987, 0.748, 0) for durations 0-2, 3-5, 6-10, 11-15, 16+) at
  the level L that gives the registered emigration rate of immigrants in the year before the jump-off;
  durations 30+ are summed into the open class; each cohort also survives from its age at arrival by the
  period life table of the year before the jump-off (HMD, `survivorship`). The seed, the same for the
  three groups, is fitted by IPF (`ipf`) to the registered margins, which it then has exactly. The margins
  are made consistent first: each is scaled to the registered total of immigrants (sex x age groups), and
  where the duration table exists its split of groups 1 + 2 against 3 is kept and the country background
  only splits 1 from 2 (the two sources differ by 6 000 immigrants in 2015); `residuals` reports the raw
  differences.
* Norwegian-born to two immigrant parents: registered by sex (1986-2015). By age: children born in year
  b in proportion to the immigrant women registered on 1 January b (1986 on); for birth years before 1986
  SSB's registered 2002 age distribution of this group (5-year groups, spread evenly), put on the same
  scale over the birth years 1986-2001 that both cover. No deaths or emigration are deducted (children
  and young adults). By mother's country group (not registered here): in proportion to the group's
  immigrants times SSB's share of immigrant women's children with an immigrant father
  (`SHARE_IMMIGRANT_FATHER`, reference Figure 3.34) - SSB's published parameter, used where nothing
  else exists.
* The rest: the HMD population minus the immigrants and the Norwegian-born to immigrant parents, by sex
  and age (negative cells, if any, are reported and set to 0).

Spread (`jump_off_draws`): each draw multiplies L by exp(0.3 z) (emigration of immigrants is
under-registered, 19-30% of it administrative: emigration-findings.md) and every seed cell and every
Norwegian-born age weight by independent Gamma(25, 1/25) noise (20% per cell, a stated choice: the flow
totals behind the seed differ by 10% (2013) and 4.5% (2014) between Eurostat and IMDi, and single-year
cells are noisier than totals), then fits the same margins: registered margins hold in every
draw, the unregistered breakdowns (single ages and durations, durations before 2015) vary. A documented
spread, not a calibrated one.
"""

from dataclasses import dataclass

import numpy as np
import xarray as xr

from stochpop.data.immigrants import (
    AGE_GROUP_FIRST,
    DURATION_CLASS_FIRST,
    REGION2_GROUPS,
)
from stochpop.demography.groups import SHARE_IMMIGRANT_FATHER, GroupCells
from stochpop.groups.ipf import Margin, ipf
from stochpop.groups.registered import GROUPS, RegisteredGroups, interpolated

EMIGRATION_LOG_ODDS: tuple[tuple[int, float], ...] = (
    (0, 1.614),
    (3, 1.394),
    (6, 0.987),
    (11, 0.748),
    (16, 0.0),
)
"""(first duration, log odds of emigrating against 16+ years) from SSB's multinomial logit
(emigration-findings.md, Rapporter 2016/27): durations 0-2, 3-5, 6-10, 11-15, 16+."""
LEVEL_SD: float = 0.3
"""Log-scale spread of the emigration level L in the draws."""
CELL_SHAPE: float = 25.0
"""Gamma shape of the per-cell noise in the draws (coefficient of variation 1/sqrt(25) = 20%)."""
CELLS = GroupCells()
"""SSB's cells: 3 country groups, durations 0-30."""
NB_HISTORY_YEAR: int = 2002
"""The year of SSB's registered age distribution of the Norwegian-born to immigrant parents."""


@dataclass(frozen=True)
class Noise:
    """One draw's perturbation: the emigration level's factor and the seeds' cell factors."""

    level: float
    immigrants: np.ndarray | float
    norwegian_born: np.ndarray | float


NO_NOISE = Noise(1.0, 1.0, 1.0)


def duration_odds(durations: np.ndarray) -> np.ndarray:
    """SSB's odds ratio of emigrating by completed duration of stay (against 16+), `EMIGRATION_LOG_ODDS`."""
    firsts = np.array([first for first, _ in EMIGRATION_LOG_ODDS])
    logs = np.array([log for _, log in EMIGRATION_LOG_ODDS])
    return np.exp(logs[np.searchsorted(firsts, durations, side="right") - 1])


def immigrant_share(reg: RegisteredGroups, flow: str, years: np.ndarray) -> xr.DataArray:
    """The immigrants' share of the year's `flow` (year): registered 2013-2014 (IMDi), foreign citizens'
    share 1999-2007 (SSB), linear between, nearest outside (`interpolated`)."""
    imdi = reg.flows_imdi.sel(flow=flow)
    foreign = reg.flows_citizenship.sel(flow=flow)
    share = xr.concat(
        [foreign.sel(category="foreign_citizens") / foreign.sel(category="all"),
         imdi.sel(category="immigrants") / imdi.sel(category="all")],
        "year",
    )  # fmt: skip
    return interpolated(share, years)


def emigration_rate(reg: RegisteredGroups, years: np.ndarray) -> xr.DataArray:
    """Emigrations of immigrants per immigrant on 1 January (year): registered 2013-2014, foreign citizens'
    emigrations over immigrants 1999-2007, interpolated (`interpolated`)."""
    stock = reg.main_groups.sel(category="immigrants").sum("sex")
    imdi = reg.flows_imdi.sel(flow="emigration", category="immigrants")
    foreign = reg.flows_citizenship.sel(flow="emigration", category="foreign_citizens")
    rate = xr.concat([foreign / stock.sel(year=foreign["year"]), imdi / stock.sel(year=imdi["year"])], "year")
    return interpolated(rate, years)


def arrivals(reg: RegisteredGroups, years: np.ndarray) -> np.ndarray:
    """Immigrations of immigrants in `years`: total immigration (Eurostat totals, interpolated, the first
    registered year's before 1990) times the immigrants' share (`immigrant_share`)."""
    total = interpolated(reg.eurostat_totals.sel(flow="immigration"), years)
    return (total * immigrant_share(reg, "immigration", years)).values


def arrival_schedule(reg: RegisteredGroups, n_ages: int) -> np.ndarray:
    """Immigrations by sex and age at end of year (2, n_ages), summing to 1: Eurostat's immigration by
    age reached in the year, pooled over its years (2008-2022)."""
    flows = reg.eurostat.sel(flow="immigration").sum("year").transpose("sex", "age").values
    schedule = np.zeros((2, n_ages))
    common = min(flows.shape[1], n_ages)
    schedule[:, :common] = flows[:, :common]
    return schedule / schedule.sum()


def survivorship(reg: RegisteredGroups, year: int) -> np.ndarray:
    """Period survivors l(s, x) to each age at end of year (2, A) from the deaths of `year` by age at end
    of year over the 1 January stock aged one year (HMD), l(0) = 1; the survival factor of the seed."""
    population = reg.population.sel(year=year).transpose("sex", "age").values
    aged = np.concatenate(
        [population[:, :1], population[:, :-2], population[:, -2:].sum(1, keepdims=True)], axis=1
    )
    deaths = reg.deaths.sel(year=year).transpose("sex", "age").values
    q = np.clip(np.divide(deaths, aged, out=np.ones_like(aged), where=aged > 0), 0.0, 0.999)
    return np.cumprod(np.concatenate([np.ones((2, 1)), 1.0 - q[:, 1:]], axis=1), axis=1)


def retention(level: float, durations: np.ndarray) -> np.ndarray:
    """prod_{k<d} (1 - level o(k)) for each duration d (`duration_odds`)."""
    hazard = np.minimum(level * duration_odds(durations), 1.0)
    return np.concatenate([[1.0], np.cumprod(1.0 - hazard)[:-1]])


def emigration_level(flows: np.ndarray, rate: float) -> float:
    """L such that the stock implied by arrivals `flows` (by duration 0, 1, ...) and retention under L
    has mean hazard L o(d) equal to `rate` (bisection)."""
    durations = np.arange(flows.size)
    odds = duration_odds(durations)
    low, high = 0.0, 1.0 / odds.max()
    for _ in range(60):
        level = 0.5 * (low + high)
        stock = flows * retention(level, durations)
        if (stock * level * odds).sum() / stock.sum() < rate:
            low = level
        else:
            high = level
    return 0.5 * (low + high)


def immigrant_seed(
    reg: RegisteredGroups, year: int, n_ages: int, cells: GroupCells, noise: Noise
) -> np.ndarray:
    """The synthetic-cohort seed (D + 1, 2, n_ages) on 1 January `year` (module docstring)."""
    durations = np.arange(n_ages)
    flows = arrivals(reg, year - 1 - durations)
    level = emigration_level(flows, float(emigration_rate(reg, np.array([year - 1]))[0])) * noise.level
    schedule = arrival_schedule(reg, n_ages)
    log_survivors = np.log(survivorship(reg, year - 1))
    seed = np.zeros((n_ages, 2, n_ages))
    for d in durations:
        seed[d, :, d:] = schedule[:, : n_ages - d] * np.exp(
            log_survivors[:, d:] - log_survivors[:, : n_ages - d]
        )
    seed *= (flows * retention(level, durations))[:, None, None]
    folded = np.concatenate([seed[: cells.max_duration], seed[cells.max_duration :].sum(0, keepdims=True)])
    return folded * noise.immigrants


def _age_labels(n_ages: int, firsts: tuple[int, ...]) -> np.ndarray:
    return np.searchsorted(np.asarray(firsts), np.arange(n_ages), side="right") - 1


def immigrants(
    reg: RegisteredGroups, year: int, n_ages: int, cells: GroupCells, noise: Noise = NO_NOISE
) -> np.ndarray:
    """Immigrants (G, D + 1, 2, n_ages) on 1 January `year`, fitted to the registered margins."""
    seed = np.broadcast_to(
        immigrant_seed(reg, year, n_ages, cells, noise), (cells.groups, cells.durations, 2, n_ages)
    )
    by_age = reg.age_groups.sel(year=year).transpose("sex", "age_group").values
    total = by_age.sum()
    by_group = reg.country_groups.sel(year=year, group=list(GROUPS)).values
    by_group = by_group * total / by_group.sum()
    margins = [Margin((2, 3), (np.arange(2), _age_labels(n_ages, AGE_GROUP_FIRST)), by_age)]
    if year in reg.duration["year"].values:
        region = np.array([next(int(r) - 1 for r, gs in REGION2_GROUPS.items() if g in gs) for g in GROUPS])
        by_duration = reg.duration.sel(year=year).transpose("region2", "duration_class").values
        by_duration = by_duration * total / by_duration.sum()
        # the duration table's regions hold the groups 1 + 2 vs 3 split; the country background splits 1 / 2
        in_region = np.bincount(region, by_group)[region]
        by_group = by_group / in_region * by_duration.sum(1)[region]
        classes = _age_labels(cells.durations, DURATION_CLASS_FIRST)
        margins.append(Margin((0, 1), (region, classes), by_duration))
    margins.append(Margin((0,), (np.arange(cells.groups),), by_group))
    return ipf(seed, margins)


def norwegian_born_ages(reg: RegisteredGroups, year: int, n_ages: int, noise: Noise = NO_NOISE) -> np.ndarray:
    """Relative numbers of Norwegian-born to immigrant parents by age (n_ages,) on 1 January `year`,
    summing to 1 (module docstring)."""
    women = reg.main_groups.sel(category="immigrants", sex="female").dropna("year")
    first = int(women["year"].min())
    born = year - 1 - np.arange(n_ages)
    recent = np.where(born >= first, interpolated(women, born).values, 0.0)
    registered = reg.immigrant_ages.sel(year=NB_HISTORY_YEAR, category="norwegian_born").dropna("first_age")
    age_then = NB_HISTORY_YEAR - 1 - born
    group = np.searchsorted(registered["first_age"].values, age_then, side="right") - 1
    per_year = registered.values[np.clip(group, 0, None)] / 5.0
    overlap = (born >= first) & (born < NB_HISTORY_YEAR)
    scale = per_year[overlap].sum() / recent[overlap].sum()
    weights = (
        np.where(born >= first, recent * scale, np.where(age_then >= 0, per_year, 0.0)) * noise.norwegian_born
    )
    return weights / weights.sum()


def norwegian_born(
    reg: RegisteredGroups, year: int, n_ages: int, by_group: np.ndarray, noise: Noise = NO_NOISE
) -> np.ndarray:
    """Norwegian-born to immigrant parents (G, 2, n_ages) on 1 January `year`: the registered total by sex,
    spread over ages (`norwegian_born_ages`) and over the mother's country group in proportion to the
    group's immigrants `by_group` (G,) times `SHARE_IMMIGRANT_FATHER`."""
    by_sex = reg.main_groups.sel(year=year, category="norwegian_born").transpose("sex").values
    groups = by_group * np.asarray(SHARE_IMMIGRANT_FATHER)
    ages = norwegian_born_ages(reg, year, n_ages, noise)
    return (groups / groups.sum())[:, None, None] * by_sex[None, :, None] * ages[None, None, :]


def jump_off(
    reg: RegisteredGroups, year: int, cells: GroupCells = CELLS, noise: Noise = NO_NOISE
) -> xr.DataArray:
    """The grouped population (cell, sex, age) on 1 January `year` (module docstring); the rest is the
    HMD population minus the others, negative cells set to 0 (`residuals` reports them)."""
    population = reg.population.sel(year=year).transpose("sex", "age")
    n_ages = population.sizes["age"]
    imm = immigrants(reg, year, n_ages, cells, noise)
    nb = norwegian_born(reg, year, n_ages, imm.sum((1, 2, 3)), noise)
    rest = population.values - imm.sum((0, 1)) - nb.sum(0)
    values = cells.by_cell(np.maximum(rest, 0.0), imm, nb)
    return xr.DataArray(
        values,
        coords={
            "cell": list(cells.labels()),
            "sex": population["sex"].values,
            "age": population["age"].values,
        },
        dims=("cell", "sex", "age"),
        attrs={
            "units": "persons",
            "date": f"1 January {year}",
            "negative_rest": float(np.minimum(rest, 0).sum()),
        },
    )


def jump_off_draws(
    reg: RegisteredGroups, year: int, draws: int, seed: int = 0, cells: GroupCells = CELLS
) -> xr.DataArray:
    """`draws` reconstructions (draw, cell, sex, age) under the documented spread (module docstring)."""
    rng = np.random.default_rng(seed)
    n_ages = reg.population.sizes["age"]
    results = []
    for _ in range(draws):
        noise = Noise(
            level=float(np.exp(LEVEL_SD * rng.standard_normal())),
            immigrants=rng.gamma(CELL_SHAPE, 1.0 / CELL_SHAPE, (cells.durations, 2, n_ages)),
            norwegian_born=rng.gamma(CELL_SHAPE, 1.0 / CELL_SHAPE, n_ages),
        )
        results.append(jump_off(reg, year, cells, noise))
    return xr.concat(results, "draw")


def residuals(
    reg: RegisteredGroups, population: xr.DataArray, cells: GroupCells = CELLS
) -> list[dict[str, object]]:
    """The jump-off against what was registered on its date: one row per registered figure (source,
    figure, registered, reconstructed, residual = reconstructed - registered)."""
    year = int(str(population.attrs["date"]).split()[-1])
    values = population.transpose("cell", "sex", "age").values
    kinds = cells.kinds(values, axis=-3)  # (1 + 2G, 2, A)
    imm = values[1 : 1 + cells.groups * cells.durations].reshape(cells.groups, cells.durations, 2, -1)
    ages = _age_labels(values.shape[-1], AGE_GROUP_FIRST)
    rows: list[dict[str, object]] = []

    def row(source: str, figure: str, registered: float, reconstructed: float) -> None:
        rows.append(
            {"source": source, "figure": figure, "registered": registered, "reconstructed": reconstructed,
             "residual": reconstructed - registered}
        )  # fmt: skip

    main = reg.main_groups.sel(year=year)
    for s, sex in enumerate(population["sex"].values):
        row(
            "IMDi hovedgruppe",
            f"immigrants {sex}",
            float(main.sel(category="immigrants", sex=sex)),
            float(kinds[1 : 1 + cells.groups, s].sum()),
        )
        row(
            "IMDi hovedgruppe",
            f"norwegian-born {sex}",
            float(main.sel(category="norwegian_born", sex=sex)),
            float(kinds[1 + cells.groups :, s].sum()),
        )
        row(
            "IMDi hovedgruppe",
            f"rest {sex}",
            float(main.sel(category="rest", sex=sex)),
            float(kinds[0, s].sum()),
        )
        for k, label in enumerate(reg.age_groups["age_group"].values):
            row(
                "IMDi alder",
                f"immigrants {sex} {label}",
                float(reg.age_groups.sel(year=year, sex=sex, age_group=label)),
                float(imm[:, :, s, ages == k].sum()),
            )
    for g in GROUPS:
        if year in reg.world_regions["year"].values:
            registered = float(reg.world_regions.sel(year=year, group=g))
            row(
                "IMDi 9 world regions", f"immigrants group {g} (regions)", registered, float(imm[g - 1].sum())
            )
        row(
            "IMDi country background",
            f"immigrants group {g}",
            float(reg.country_groups.sel(year=year, group=g)),
            float(imm[g - 1].sum()),
        )
    if year in reg.duration["year"].values:
        classes = _age_labels(cells.durations, DURATION_CLASS_FIRST)
        for region, groups in REGION2_GROUPS.items():
            for k, label in enumerate(reg.duration["duration_class"].values):
                reconstructed = sum(float(imm[g - 1, classes == k].sum()) for g in groups)
                row(
                    "IMDi botid",
                    f"immigrants region {region} duration {label}",
                    float(reg.duration.sel(year=year, region2=region, duration_class=label)),
                    reconstructed,
                )
    row("HMD", "population", float(reg.population.sel(year=year).sum()), float(values.sum()))
    return rows
