"""SSB's 2018 main alternative (MMMM) for BEFINN's groups held fixed: its assumptions, the kernel's per-cell
`Rates` for each year 2018-2059, the grouped jump-off of 1 January 2018, and the deterministic line through
the kernel to 1 January 2060 (issue #14, the check against SSB's 2040 and 2060 figures).

"Reference" is `../shared/reference/ssb-2018-projections.txt` (SSB Reports 2018/22). What SSB publishes
as numbers is used as published; years between SSB's published years are linear interpolations (ours),
the end values held beyond them. SSB publishes several group parameters only as figures without numbers
(the TFRs of its 15 group x duration classes, Figures 3.2/3.5; the emigration probabilities, ch. 8.2;
immigration by country group, Figures 3.25-3.27): those are replaced by registered data, as stated.

Year t's rates, by cell of `GroupCells` (the rest; immigrants of groups 1-3 by duration 0-30; the
Norwegian-born to immigrant parents by mother's group):

* fertility (births per woman at risk by age at end of year 15..49): SSB scales all 16 groups' rates by
  one factor, the national TFR of t over 1.62 (2017; ch. 3.1, Table 2.1). Levels in 2017: the rest (and
  the Norwegian-born daughters, ch. 4.2) 1.56 (ch. 3.1); immigrant women 1.93 as a whole (SSB Tabell 5,
  2017), split over the country groups in proportion to their shares of 2017's births (ch. 3.1: 28% to
  immigrant mothers, 18% group 3, 7% group 2) per woman at risk on the jump-off (`group_tfr`), the same at
  every duration (no group table, no duration profile is published). One age schedule for all: Norway's
  births per woman at risk of 2017 (HMD/HFD, `observed_fertility`) normalised to sum 1.
* mortality (common to all cells, ch. 3.2): HMD's 2017 rates by age at end of year, multiplied per sex
  and year by the factor that gives SSB's e0 (Table 2.1; e0 from q by age at end of year,
  `life_expectancy_from_q`, q = 0.5 from 108). A proportional shift: SSB's Lee-Carter lowers old-age
  mortality more than young (ch. 6), which this does not reproduce.
* emigration (probabilities on the aged stock, ages 0-69): M l_k o(d) a(s, x): a = Norway's emigration
  rates' age-sex pattern (Eurostat 2008-2015, `replay.emigration_pattern`); o = SSB's odds ladder by
  duration of stay (`jump_off.duration_odds`, emigration-findings.md; 1 for non-immigrants); l_k per kind
  so that, on the 2018 jump-off, each kind's mean rate is its registered 2014 rate: immigrants of groups
  1 + 2 (IMDi region 1) 14 959 emigrations, of group 3 (region 2) 8 774, everyone else 8 142, over the
  1 January 2014 stocks (the 2014 flows are the only registered emigration by group here; groups 1 and 2
  share a level, so SSB's 1 > 2 ordering is not reproduced); the Norwegian-born to immigrant parents as
  their mother's group's immigrants of the open duration class (ch. 8.2: their probabilities are by
  country group and "significantly higher" than the rest's, unpublished; children emigrate with their
  parents, emigration-findings.md), the option "rest" gives them the rest's level instead; M one factor
  solved so that the line's emigrations in 2020 are SSB's 32 200 (Table 2.1).
* immigration (counts, at duration 0, `immigration_at_arrival`): SSB's total (Table 2.1) minus that of
  non-immigrants (7 490 in 2017 to 11 000 in 2100, linear: ch. 3.4, 8.1), split over the country groups in
  the shares of 2017 (arrivals = the registered growth of the group's immigrants 2017-2018 plus its
  emigrations at the 2014 rate; held fixed: SSB's falling group 2 and rising group 3 are published only
  as Figures 3.25-3.27); the non-immigrants' all into the rest (SSB also places some among the
  Norwegian-born, unpublished). One age-sex schedule: Eurostat's immigration 2008-2022 (ages 0-69, ch.
  8.1), `jump_off.arrival_schedule`.
* births of immigrant mothers: to the Norwegian-born of her group in SSB's long-run share with an
  immigrant father (`SHARE_IMMIGRANT_FATHER`, Figure 3.34) from 2018 on, the rest otherwise.

The jump-off (`jump_off_2018`): the reconstruction of 1 January 2015 (`jump_off`) replayed to 2018 with
registered flows (`replay`), then each country group's immigrants scaled to the registered stock of 1
January 2018 (IMDi country background, 746 661 in all) and the rest set to the HMD population minus the
immigrants and the Norwegian-born, by sex and age. The Norwegian-born (not registered here after 2015)
are as replayed.
"""

from dataclasses import dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.conventions import FERTILE_AGES, MIGRATION_MAX_AGE, N_AGES, Q_FIXED_FROM_AGE, Q_FIXED_VALUE
from stochpop.demography.ageing import age_one_year
from stochpop.demography.groups import SHARE_IMMIGRANT_FATHER, GroupCells
from stochpop.demography.lifetable import life_expectancy_from_q
from stochpop.groups.jump_off import CELLS, arrival_schedule, duration_odds
from stochpop.groups.registered import GROUPS, RegisteredGroups
from stochpop.groups.replay import death_probabilities, emigration_pattern, replay
from stochpop.projection.kernel import Flows, KernelConfig, Rates, project

Points = tuple[tuple[int, float], ...]
"""(year, value) pairs, increasing years: a path to interpolate (`along`)."""

JUMP_OFF: int = 2018
LAST_YEAR: int = 2060
"""The line runs from 1 January 2018 to 1 January 2060 (events of 2018-2059)."""

NATIONAL_TFR: Points = ((2017, 1.62), (2018, 1.60), (2020, 1.60), (2030, 1.76), (2060, 1.76))
"""SSB's national TFR, MMMM: 1.62 registered 2017 (Table 2.1); "level off in 2018 with a TFR of 1.60"
(ch. 3.1); 1.60 in 2020 (Table 2.1); "1.76 in 2030 (and onwards)" (ch. 3.1; Table 2.1: 1.76 in 2040 and
2060). Linear between (ours: ch. 3.1 says only "gradually increasing")."""
BASE_TFR: float = 1.62
"""The 2017 TFR the factor is relative to (ch. 3.1: 1.76 "is 8.6 per cent higher than the TFR of 1.62")."""
REST_TFR_2017: float = 1.56
"""TFR of the non-immigrant women in 2017 (ch. 3.1: "1.56 in 2017, will end up at 1.70 from 2030")."""
IMMIGRANT_TFR_2017: float = 1.93
"""TFR of immigrant women in 2017 (SSB Tabell 5, in the shared file
`DERIVED_ssb_web_tfr_by_mothers_country_background.csv`); times 1.76 / 1.62 it is 2.10, ch. 3.1's long-run
"just over 2.1" for immigrant women."""

E0: dict[str, Points] = {
    "female": ((2017, 84.3), (2020, 84.7), (2040, 87.8), (2060, 90.3)),
    "male": ((2017, 80.9), (2020, 81.6), (2040, 85.4), (2060, 88.4)),
}
"""Life expectancy at birth, MMMM (Table 2.1; 2017 registered)."""

IMMIGRATION: Points = ((2017, 56_400.0), (2020, 51_400.0), (2040, 48_900.0), (2060, 49_000.0))
"""Yearly immigrations, MMMM (Table 2.1; 2017 registered)."""
EMIGRATION: Points = ((2017, 35_058.0), (2020, 32_200.0), (2040, 31_600.0), (2060, 32_000.0))
"""Yearly emigrations, MMMM (Table 2.1): a result of SSB's probabilities; 2020 calibrates ours
(`EMIGRATION_CALIBRATION_YEAR`), 2040 and 2060 check them."""
EMIGRATION_CALIBRATION_YEAR: int = 2020
NON_IMMIGRANT_IMMIGRATION: Points = ((2017, 7_490.0), (2100, 11_000.0))
"""Immigrations of non-immigrants (ch. 3.4: "increases from 7 490 in 2017 to 11 000 in 2100"; ch. 8.1:
a linear trend)."""

SSB_FIGURES: dict[str, dict[int, float]] = {
    "immigrants": {2018: 750_000.0, 2040: 1_100_000.0, 2060: 1_330_000.0},
    "norwegian_born": {2018: 170_000.0, 2040: 370_000.0, 2060: 530_000.0},
    "total": {2018: 5_295_619.0, 2040: 6_056_000.0},
}
"""SSB's MMMM results on 1 January: immigrants "from almost 750 000 ... to 1.1 million in 2040 and 1.3
million in 2060" (ch. 3.4), "over 1.33 million" (ch. 2.6); Norwegian-born to two immigrant parents "from
170 000 this year to 370 000 in 2040 and 530 000 in 2060" (ch. 3.4); total registered 2018 and projected
2040 (Table 2.2). No 2060 total is printed: ch. 3.4's shares (immigrants 20%, Norwegian-born 8% in 2060)
put it near 1.33 / 0.20 = 6.65 million and 0.53 / 0.08 = 6.6 million (`SSB_TOTAL_2060_FROM_SHARES`)."""
SSB_TOTAL_2060_FROM_SHARES: float = 1_330_000.0 / 0.20
"""The 2060 total implied by ch. 3.4's rounded share of immigrants (20%): good to a few per cent only."""
SSB_BIRTHS: dict[int, float] = {2040: 63_900.0, 2060: 65_900.0}
"""Births, MMMM (ch. 3.1: "around 63 900 and 65 900 in 2040 and 2060")."""
SSB_BIRTH_SHARES_2017: dict[str, float] = {"immigrant mothers": 0.28, "group 3": 0.18, "group 2": 0.07}
"""Shares of 2017's births by the mother's background (ch. 3.1: "around 28 per cent of all children were
born to an immigrant woman", "from 18 per cent in 2017" (group 3), "from seven per cent in 2017" (group
2)); group 1's 3% is the remainder. They set the groups' relative fertility (`group_tfr`)."""


def along(points: Points, years: np.ndarray) -> np.ndarray:
    """Values of a path at `years`: linear between its points, the end values held beyond them."""
    x, y = zip(*points, strict=True)
    return np.interp(np.asarray(years, dtype=float), x, y)


def kernel_config(cells: GroupCells = CELLS) -> KernelConfig:
    """SSB's conventions (`stochpop.conventions`) with the duration advance of `cells`."""
    return KernelConfig(reclassify=cells.duration_advance())


def _kernel_ages(values: np.ndarray) -> np.ndarray:
    """Data ages 0..110+ (last axis) -> kernel ages 0..119, the open age's value repeated above it."""
    return np.concatenate([values, np.repeat(values[..., -1:], N_AGES - values.shape[-1], -1)], axis=-1)


def stock_at_risk(population: np.ndarray) -> np.ndarray:
    """The 1 January stock (..., A) aged one year, no newborns (the stock at risk of the year's events)."""
    return np.asarray(age_one_year(population, np.zeros(population.shape[:-1]), np))


def _migration_ages() -> np.ndarray:
    """1 at ages 0..69 (SSB: no migration at 70+, ch. 8.2), 0 above; (A,)."""
    assert MIGRATION_MAX_AGE is not None
    return (np.arange(N_AGES) <= MIGRATION_MAX_AGE).astype(float)


@dataclass(frozen=True)
class Assumptions:
    """SSB's 2018 MMMM assumptions, made concrete for the cells (module docstring).

    fertility_schedule (35,): age pattern, sum 1; tfr_2017 (G + 1,): the rest, then immigrant women of
    groups 1..G; mortality_2017 (2, A): central rates m; emigration_shape (C, 2, A): l_k o(d) a(s, x);
    emigration_factor: M; immigration_schedule (2, A): sum 1; group_shares (G,): sum 1.
    """

    fertility_schedule: np.ndarray
    tfr_2017: np.ndarray
    mortality_2017: np.ndarray
    emigration_shape: np.ndarray
    emigration_factor: float
    immigration_schedule: np.ndarray
    group_shares: np.ndarray
    cells: GroupCells = CELLS


def group_tfr(women: np.ndarray, schedule: np.ndarray) -> np.ndarray:
    """TFRs of immigrant women by country group in 2017 (G,), under one age schedule s (35,), from the
    immigrant women at risk by group and age (`women`, G x 35): in proportion to each group's share of
    2017's births over its women weighted by s (`SSB_BIRTH_SHARES_2017`; group 1 the immigrant mothers'
    share less groups 2 and 3), scaled so that all immigrant women together have `IMMIGRANT_TFR_2017`,
    sum_x s(x) sum_g w_g(x) TFR_g, w_g(x) group g's share of the immigrant women at age x."""
    shares = SSB_BIRTH_SHARES_2017
    births = np.array(
        [
            shares["immigrant mothers"] - shares["group 2"] - shares["group 3"],
            shares["group 2"],
            shares["group 3"],
        ]
    )
    relative = births / (women * schedule).sum(-1)
    aggregate = (schedule * (women / women.sum(0)) * relative[:, None]).sum()
    return IMMIGRANT_TFR_2017 * relative / aggregate


def base_mortality(reg: RegisteredGroups) -> np.ndarray:
    """HMD's 2017 central rates by age at end of year (2, A): m = -log(1 - q), q registered deaths over
    the stock at risk (`replay.death_probabilities`)."""
    q = _kernel_ages(death_probabilities(reg, 2017))
    return -np.log(np.maximum(1.0 - q, np.finfo(float).tiny))


def kernel_q(m: np.ndarray) -> np.ndarray:
    """The kernel's death probabilities of rates m (..., A): 1 - exp(-m), `Q_FIXED_VALUE` from 108."""
    q = 1.0 - np.exp(-np.maximum(m, 0.0))
    q[..., Q_FIXED_FROM_AGE:] = Q_FIXED_VALUE
    return q


def mortality_factors(m: np.ndarray, e0: np.ndarray) -> np.ndarray:
    """Factors k (..., 2) such that rates k m (2, A) have life expectancy `e0` (..., 2) (bisection on
    log k; e0 falls as k grows)."""
    low = np.full(e0.shape, -5.0)
    high = np.full(e0.shape, 5.0)
    for _ in range(60):
        middle = 0.5 * (low + high)
        e = life_expectancy_from_q(kernel_q(np.exp(middle)[..., None] * m))
        low = np.where(e > e0, middle, low)
        high = np.where(e > e0, high, middle)
    return np.exp(0.5 * (low + high))


def cell_kinds(cells: GroupCells) -> np.ndarray:
    """The emigration kind of each cell (C,): 0 everyone but immigrants, 1 immigrants of groups 1-2,
    2 immigrants of group 3 (IMDi's 2014 emigrations by world region, `RegisteredGroups.flows_by_region`)."""
    kind = np.zeros(cells.size, dtype=int)
    for g in range(1, cells.groups + 1):
        for d in range(cells.durations):
            kind[cells.immigrant(g, d)] = 1 if g < 3 else 2
    return kind


def registered_emigration_rates(reg: RegisteredGroups) -> np.ndarray:
    """Emigrations per person on 1 January 2014 by emigration kind (3,) (`cell_kinds`)."""
    stock = reg.country_groups.sel(year=2014, group=list(GROUPS)).values
    immigrants = float(reg.main_groups.sel(year=2014, category="immigrants").sum())
    everyone = float(reg.population.sel(year=2014).sum())
    flows = reg.flows_imdi.sel(year=2014, flow="emigration")
    others = float(flows.sel(category="all") - flows.sel(category="immigrants"))
    by_region = reg.flows_by_region.sel(year=2014, flow="emigration")
    return np.array(
        [
            others / (everyone - immigrants),
            float(by_region.sel(region2="1")) / stock[:2].sum(),
            float(by_region.sel(region2="2")) / stock[2],
        ]
    )


def emigration_shape(
    reg: RegisteredGroups, start: np.ndarray, cells: GroupCells, norwegian_born: str = "parents"
) -> np.ndarray:
    """l o(d) a(s, x) by cell (C, 2, A), the levels l such that on the jump-off `start` (C, 2, A) aged one
    year each emigration kind (`cell_kinds`) has its registered 2014 mean rate. The Norwegian-born emigrate
    as their mother's group's immigrants of the open duration class ("parents") or as the rest ("rest");
    the rest's level then makes the rest and the Norwegian-born together give everyone else's 2014 rate."""
    pattern = _kernel_ages(emigration_pattern(reg, reg.population.sizes["age"])) * _migration_ages()
    by_duration = np.broadcast_to(
        duration_odds(np.arange(cells.durations))[:, None], (cells.groups, cells.durations, 1)
    )
    odds = cells.by_cell(np.ones(1), by_duration, np.ones((cells.groups, 1)), axis=-2)[:, 0]
    shape = odds[:, None, None] * pattern[None]
    kind = cell_kinds(cells)
    aged = stock_at_risk(start)
    rates = registered_emigration_rates(reg)
    level = np.zeros(cells.size)
    for k in (1, 2):
        level[kind == k] = rates[k] * aged[kind == k].sum() / (shape[kind == k] * aged[kind == k]).sum()
    born = [cells.norwegian_born(g) for g in range(1, cells.groups + 1)]
    own_level = kind == 0
    if norwegian_born == "parents":
        parents = [cells.immigrant(g, cells.max_duration) for g in range(1, cells.groups + 1)]
        level[born] = level[parents] * odds[parents] / odds[born]
        own_level[born] = False
    elif norwegian_born != "rest":
        raise ValueError(f"norwegian_born must be 'parents' or 'rest', not {norwegian_born!r}")
    fixed = float((level[:, None, None] * shape * aged)[kind == 0].sum())
    level[own_level] = (rates[0] * aged[kind == 0].sum() - fixed) / (shape * aged)[own_level].sum()
    return level[:, None, None] * shape


def group_shares(reg: RegisteredGroups) -> np.ndarray:
    """Shares of the immigrants' immigrations by country group (G,): 2017's registered growth of each
    group's immigrants plus its emigrations at the registered 2014 rate (`registered_emigration_rates`)."""
    stock = reg.country_groups.sel(group=list(GROUPS))
    rates = registered_emigration_rates(reg)[cell_kinds(CELLS)[[CELLS.immigrant(g, 0) for g in GROUPS]]]
    before = stock.sel(year=2017).values
    arrivals = np.maximum(stock.sel(year=2018).values - before + rates * before, 0.0)
    return arrivals / arrivals.sum()


def assumptions(
    reg: RegisteredGroups, start: np.ndarray, cells: GroupCells = CELLS, norwegian_born: str = "parents"
) -> Assumptions:
    """SSB's assumptions for the jump-off `start` (C, 2, A kernel ages), emigration factor M = 1
    (`calibrate_emigration` sets it); `norwegian_born`: their emigration (`emigration_shape`)."""
    rates = reg.fertility.sel(year=2017).values
    schedule = rates / rates.sum()
    first, last = FERTILE_AGES
    women = stock_at_risk(start[:, 0])[:, first:last]
    immigrant_women = cells.kinds(women, axis=-2)[1 : 1 + cells.groups]
    arrival = arrival_schedule(reg, N_AGES) * _migration_ages()
    return Assumptions(
        fertility_schedule=schedule,
        tfr_2017=np.array([REST_TFR_2017, *group_tfr(immigrant_women, schedule)]),
        mortality_2017=base_mortality(reg),
        emigration_shape=emigration_shape(reg, start, cells, norwegian_born),
        emigration_factor=1.0,
        immigration_schedule=arrival / arrival.sum(),
        group_shares=group_shares(reg),
        cells=cells,
    )


def immigration_totals(years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSB's immigrations of immigrants and of non-immigrants in `years` (years,) each."""
    non_immigrants = along(NON_IMMIGRANT_IMMIGRATION, years)
    return along(IMMIGRATION, years) - non_immigrants, non_immigrants


def line_rates(a: Assumptions, years: np.ndarray) -> Rates:
    """The kernel's `Rates` of `years` in float64, each leaf leading with year: fertility (Y, C, 35),
    mortality (Y, 2, A), immigration and emigration (Y, C, 2, A), birth_destination (Y, C, C)."""
    cells = a.cells
    factor = along(NATIONAL_TFR, years) / BASE_TFR
    tfr = factor[:, None] * a.tfr_2017
    immigrant_tfr = np.broadcast_to(tfr[:, 1:, None], (years.size, cells.groups, cells.durations))
    fertility = cells.fertility_by_cell(
        tfr[:, 0, None] * a.fertility_schedule, immigrant_tfr[..., None] * a.fertility_schedule
    )
    targets = np.stack([along(E0[sex], years) for sex in ("female", "male")], axis=-1)
    mortality = mortality_factors(a.mortality_2017, targets)[..., None] * a.mortality_2017
    immigrants, non_immigrants = immigration_totals(years)
    schedule = a.immigration_schedule
    immigration = cells.immigration_at_arrival(
        non_immigrants[:, None, None] * schedule,
        (immigrants[:, None] * a.group_shares)[:, :, None, None] * schedule,
        np.zeros((years.size, cells.groups, *schedule.shape)),
    )
    destination = cells.birth_destination(np.asarray(SHARE_IMMIGRANT_FATHER))
    with jax.enable_x64(True):
        return Rates(
            fertility=jnp.asarray(fertility),
            mortality=jnp.asarray(mortality),
            immigration=jnp.asarray(immigration),
            emigration=jnp.asarray(
                np.broadcast_to(a.emigration_factor * a.emigration_shape, immigration.shape)
            ),
            birth_destination=jnp.asarray(np.broadcast_to(destination, (years.size, *destination.shape))),
        )


def run(start: np.ndarray, a: Assumptions, last: int = LAST_YEAR) -> tuple[np.ndarray, Flows]:
    """The line from `start` (C, 2, A) on 1 January `JUMP_OFF` to 1 January `last`, float64: populations
    on 1 January JUMP_OFF + 1..last (Y, C, 2, A) and the flows of JUMP_OFF..last - 1 by cell and sex."""
    years = np.arange(JUMP_OFF, last)
    with jax.enable_x64(True):
        populations, flows = project(jnp.asarray(start), line_rates(a, years), config=kernel_config(a.cells))
        return np.asarray(populations), jax.tree.map(np.asarray, flows)


def calibrate_emigration(start: np.ndarray, a: Assumptions, iterations: int = 6) -> Assumptions:
    """`a` with the emigration factor M that gives SSB's emigrations of `EMIGRATION_CALIBRATION_YEAR`
    (`EMIGRATION`) on the line from `start` (fixed-point iteration; emigrations are nearly proportional
    to M)."""
    target = float(along(EMIGRATION, np.array([EMIGRATION_CALIBRATION_YEAR]))[0])
    for _ in range(iterations):
        _, flows = run(start, a, EMIGRATION_CALIBRATION_YEAR + 1)
        projected = float(flows.emigrations[-1].sum())
        a = replace(a, emigration_factor=a.emigration_factor * target / projected)
    return a


def jump_off_2018(reg: RegisteredGroups, cells: GroupCells = CELLS) -> xr.DataArray:
    """The grouped population (cell, sex, age 0..110+) on 1 January 2018 (module docstring); attrs: the
    replayed immigrants by group before scaling, and the negative rest set to 0."""
    replayed = replay(reg, 2015, JUMP_OFF, cells)["population"].sel(year=JUMP_OFF)
    values = replayed.transpose("cell", "sex", "age").values.copy()
    registered = reg.country_groups.sel(year=JUMP_OFF, group=list(GROUPS)).values
    before = []
    for g in GROUPS:
        group_cells = [cells.immigrant(g, d) for d in range(cells.durations)]
        before.append(float(values[group_cells].sum()))
        values[group_cells] *= registered[g - 1] / before[-1]
    population = reg.population.sel(year=JUMP_OFF).transpose("sex", "age").values
    rest = population - values[1:].sum(0)
    values[cells.rest] = np.maximum(rest, 0.0)
    return replayed.copy(data=values).assign_attrs(
        date=f"1 January {JUMP_OFF}",
        replayed_immigrants_by_group=before,
        negative_rest=float(np.minimum(rest, 0.0).sum()),
    )


def kernel_start(population: xr.DataArray) -> np.ndarray:
    """A jump-off (cell, sex, age 0..110+) -> the kernel's state (C, 2, 120), nobody above the open age."""
    values = population.transpose("cell", "sex", "age").values
    state = np.zeros((*values.shape[:-1], N_AGES))
    state[..., : values.shape[-1]] = values
    return state


@dataclass(frozen=True)
class Line:
    """The deterministic line: 1 January populations (year JUMP_OFF..last, C, 2, A), the flows by cell and
    sex of each year (event year JUMP_OFF..last - 1), and the assumptions it ran with."""

    populations: np.ndarray
    flows: Flows
    assumptions: Assumptions

    @property
    def years(self) -> np.ndarray:
        return JUMP_OFF + np.arange(self.populations.shape[0])

    def stocks(self) -> dict[str, np.ndarray]:
        """1 January stocks by year (Y,): "rest", "immigrants g1".."g3", "immigrants",
        "norwegian_born g1".."g3", "norwegian_born", "total"."""
        cells = self.assumptions.cells
        kinds = cells.kinds(self.populations.sum((-1, -2)), axis=-1)
        groups = range(1, cells.groups + 1)
        out = {"rest": kinds[:, 0]}
        out |= {f"immigrants g{g}": kinds[:, g] for g in groups}
        out["immigrants"] = kinds[:, 1 : 1 + cells.groups].sum(-1)
        out |= {f"norwegian_born g{g}": kinds[:, cells.groups + g] for g in groups}
        out["norwegian_born"] = kinds[:, 1 + cells.groups :].sum(-1)
        out["total"] = kinds.sum(-1)
        return out


def ssb_line(reg: RegisteredGroups, last: int = LAST_YEAR, norwegian_born: str = "parents") -> Line:
    """SSB's 2018 MMMM line for Norway's groups from the jump-off of 1 January 2018 to `last` (module
    docstring); `norwegian_born`: their emigration (`emigration_shape`)."""
    start = kernel_start(jump_off_2018(reg))
    a = calibrate_emigration(start, assumptions(reg, start, norwegian_born=norwegian_born))
    populations, flows = run(start, a, last)
    return Line(np.concatenate([start[None], populations]), flows, a)
