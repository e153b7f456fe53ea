"""Replay registered years of Norway's immigrant groups through the kernel: the grouped jump-off
(`jump_off`) projected year by year with the cells of `GroupCells` (duration advance, births routed by the
mother's group) and the year's observed flows, nationally, in double precision.

Inputs, year t (registered = read from a register table; estimated = how, from what):

* births: registered total and share of boys (HMD). Births per woman at risk by age (HMD/HFD,
  `observed_fertility`; after its last year, that year's), times SSB's ratio of immigrant to other
  women's TFR for immigrant women (registered 1998-2016 in some years, interpolated), all scaled so the
  projected women give the registered births. Births to immigrant mothers go to the Norwegian-born to
  immigrant parents of her group in SSB's share with an immigrant father (`SHARE_IMMIGRANT_FATHER`, SSB's
  published parameter), the others to the rest.
* deaths: registered national probabilities by sex and age at end of year (HMD), the same in every cell.
* net migration: registered total (HMD balance P(t+1) - P(t) - births + deaths). Split: the
  non-immigrants' net (immigration minus emigration of everyone else) registered in 2006, 2007 (Norwegian
  citizens, SSB) and 2013, 2014 (IMDi), interpolated between; the immigrants' net is the rest of the total.
* gross flows: the immigrants' emigration rate (registered 2013-2014, foreign citizens 1999-2007,
  interpolated; `jump_off.emigration_rate`) times the projected immigrants on 1 January; their
  immigration = net + emigration. Everyone else's emigrations: registered 2006-2007 and 2013-2014,
  interpolated; their immigration = net + emigration.
* emigration by cell: probabilities L o(d) a(s, x) for immigrants (SSB's odds ladder by duration,
  `jump_off.duration_odds`; a = the national emigration rates' age pattern, Eurostat 2008-2015) and
  L' a(s, x) for the rest and the Norwegian-born, with L, L' solved each year so the kernel's emigrations
  equal the year's targets. The same level for every country group (group differences are not
  registered here).
* immigration by cell: the immigrants' by country group in proportion to the registered growth of the
  group's immigrants (country background, t to t + 1) plus its emigrations at the common rate (at least
  0), after the last registered pair of years that pair's growth; everyone else's into the rest;
  Eurostat's age-sex schedule of immigration for both.

Compared with the registered 1 January stocks of t + 1 (`errors`): immigrants, Norwegian-born to immigrant
parents, the rest, and the total. The check is not circular: the group stocks of t + 1 enter only through
the split of the immigrants' immigration between country groups, never the three categories' totals.
"""

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.conventions import FERTILE_AGES, N_AGES
from stochpop.demography.ageing import age_one_year
from stochpop.demography.groups import SHARE_IMMIGRANT_FATHER, GroupCells
from stochpop.groups.jump_off import (
    CELLS,
    arrival_schedule,
    duration_odds,
    emigration_rate,
    jump_off,
)
from stochpop.groups.registered import GROUPS, RegisteredGroups, interpolated
from stochpop.projection.kernel import KernelConfig, Rates, births, born_into, project_year
from stochpop.projection.rate_sets import pad_to_kernel_ages, to_data_ages

KINDS: tuple[str, ...] = ("rest", "immigrants", "norwegian_born")


def death_probabilities(reg: RegisteredGroups, year: int) -> np.ndarray:
    """Registered national q (2, A data ages) by age at end of year: deaths over the 1 January stock
    aged one year (births at age 0)."""
    population = reg.population.sel(year=year).transpose("sex", "age").values
    newborns = reg.births.sel(year=year).transpose("sex").values
    aged = np.asarray(age_one_year(population, newborns, np))
    deaths = reg.deaths.sel(year=year).transpose("sex", "age").values
    return np.clip(np.divide(deaths, aged, out=np.zeros_like(aged), where=aged > 0), 0.0, 1.0)


def emigration_pattern(reg: RegisteredGroups, n_ages: int) -> np.ndarray:
    """Relative emigration rates by sex and age at end of year (2, n_ages), maximum 1: Eurostat's
    emigrations by age reached in the year (2008-2015) over the 1 January population aged one year
    (births at age 0), pooled over those years."""
    flows = reg.eurostat.sel(flow="emigration").dropna("year", how="all")
    years = flows["year"].values
    counts = flows.sum("year").transpose("sex", "age").values
    start = reg.population.sel(year=years).transpose("year", "sex", "age").values
    newborns = reg.births.sel(year=years).transpose("year", "sex").values
    at_risk = np.asarray(age_one_year(start, newborns, np)).sum(0)
    rates = np.zeros((2, n_ages))
    common = min(counts.shape[1], n_ages)
    rates[:, :common] = np.divide(
        counts[:, :common], at_risk[:, :common], out=np.zeros((2, common)), where=at_risk[:, :common] > 0
    )
    return rates / rates.max()


def others_flows(reg: RegisteredGroups, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Net migration and emigrations of everyone but the immigrants (years,): registered 2006-2007 (total
    minus foreign citizens, SSB) and 2013-2014 (all minus immigrants, IMDi), interpolated."""
    rows = []
    for table, part in ((reg.flows_citizenship, "foreign_citizens"), (reg.flows_imdi, "immigrants")):
        rows.append(table.sel(category="all") - table.sel(category=part))
    others = xr.concat(rows, "year", join="inner")
    emigration = interpolated(others.sel(flow="emigration"), years).values
    net = interpolated(others.sel(flow="immigration") - others.sel(flow="emigration"), years).values
    return net, emigration


def net_migration(reg: RegisteredGroups, year: int) -> float:
    """The registered net migration of `year`: P(t + 1) - P(t) - births + deaths (HMD)."""
    total = reg.population.sum(["sex", "age"])
    deaths = reg.deaths.sel(year=year).sum()
    return float(total.sel(year=year + 1) - total.sel(year=year) - reg.births.sel(year=year).sum() + deaths)


def _group_shares(reg: RegisteredGroups, year: int, rate: float) -> np.ndarray:
    """Shares of the year's immigrations of immigrants by country group (G,) (module docstring); after the
    last registered pair of years, that pair's."""
    stock = reg.country_groups.sel(group=list(GROUPS))
    year = min(year, int(stock["year"].max()) - 1)
    growth = stock.sel(year=year + 1).values - stock.sel(year=year).values
    arrivals = np.maximum(growth + rate * stock.sel(year=year).values, 0.0)
    return arrivals / arrivals.sum()


def year_rates(
    reg: RegisteredGroups, year: int, state: np.ndarray, cells: GroupCells, config: KernelConfig
) -> Rates:
    """The kernel's `Rates` for `year` from the projected state (C, 2, 120) (module docstring)."""
    n_ages = reg.population.sizes["age"]
    lo, hi = config.fertile_ages
    base = reg.fertility.sel(year=min(year, int(reg.fertility["year"].max()))).values  # its shape only
    ratio = float(interpolated(reg.tfr_ratio, np.array([year]))[0])
    multiplier = cells.by_cell(
        np.ones(1), np.full((cells.groups, cells.durations, 1), ratio), np.ones((cells.groups, 1)), axis=-2
    )
    women = state[:, 0, lo - 1 : hi - 1]
    scale = float(reg.births.sel(year=year).sum()) / float((women * multiplier * base).sum())
    fertility = jnp.asarray(multiplier * base * scale)
    destination = jnp.asarray(cells.birth_destination(np.asarray(SHARE_IMMIGRANT_FATHER)))
    newborns = born_into(births(jnp.asarray(state), fertility, config), destination)
    aged = np.asarray(age_one_year(state, np.asarray(newborns), np))

    q = pad_to_kernel_ages(death_probabilities(reg, year))
    pattern = pad_to_kernel_ages(emigration_pattern(reg, n_ages))
    durations = np.arange(cells.durations)
    by_cell_pattern = cells.by_cell(
        np.zeros((2, N_AGES)),
        np.broadcast_to(
            duration_odds(durations)[None, :, None, None] * pattern,
            (cells.groups, cells.durations, 2, N_AGES),
        ),
        np.zeros((cells.groups, 2, N_AGES)),
    )
    others_pattern = cells.by_cell(
        pattern,
        np.zeros((cells.groups, cells.durations, 2, N_AGES)),
        np.broadcast_to(pattern, (cells.groups, 2, N_AGES)),
    )
    immigrant_rate = float(emigration_rate(reg, np.array([year]))[0])
    immigrants_now = state[1 : 1 + cells.groups * cells.durations].sum()
    emigrants = immigrant_rate * immigrants_now
    others_net, others_emigrants = (float(v[0]) for v in others_flows(reg, np.array([year])))
    immigrant_net = net_migration(reg, year) - others_net
    level = emigrants / float((by_cell_pattern * aged).sum())
    others_level = others_emigrants / float((others_pattern * aged).sum())
    emigration = level * by_cell_pattern + others_level * others_pattern
    if np.any(q + emigration > 1.0):
        raise ValueError(f"{year}: deaths and emigrations exceed the population at risk in some cell")

    schedule = pad_to_kernel_ages(arrival_schedule(reg, n_ages))
    schedule /= schedule.sum()
    shares = _group_shares(reg, year, immigrant_rate)
    arrivals = (immigrant_net + emigrants) * shares[:, None, None] * schedule
    immigration = cells.immigration_at_arrival(
        (others_net + others_emigrants) * schedule, arrivals, np.zeros((cells.groups, 2, N_AGES))
    )
    return Rates(
        fertility=fertility,
        mortality=jnp.asarray(-np.log(np.maximum(1.0 - q, np.finfo(float).tiny))),
        immigration=jnp.asarray(immigration),
        emigration=jnp.asarray(emigration),
        birth_destination=destination,
    )


def replay(
    reg: RegisteredGroups, first: int, last: int, cells: GroupCells = CELLS, start: xr.DataArray | None = None
) -> xr.Dataset:
    """Project the grouped jump-off of 1 January `first` (`start`, by default `jump_off`; e.g. one of
    `jump_off_draws`) through the years first..last - 1 with observed flows (module docstring).

    Returns population (year, cell, sex, age) on 1 January of each year first..last (the jump-off
    first) and the flows (event_year, cell, sex) of each projected year: births (born into the cell),
    deaths, emigrations, immigrations (persons, events)."""
    start = jump_off(reg, first, cells) if start is None else start.transpose("cell", "sex", "age")
    n_ages = start.sizes["age"]
    state = pad_to_kernel_ages(start.values)
    state[..., n_ages:] = 0.0
    share_boys = reg.births.sel(sex="male") / reg.births.sum("sex")
    populations = [start.values]
    kept: dict[str, list[np.ndarray]] = {"births": [], "deaths": [], "emigrations": [], "immigrations": []}
    with jax.enable_x64(True):
        for year in range(first, last):
            config = KernelConfig(
                share_boys=float(share_boys.sel(year=year)),
                fertile_ages=FERTILE_AGES,
                q_fixed_from_age=N_AGES,
                migration_max_age=None,
                reclassify=cells.duration_advance(),
            )
            rates = year_rates(reg, year, state, cells, config)
            following, flows = project_year(jnp.asarray(state), rates, config)
            state = np.asarray(following)
            populations.append(to_data_ages(state, n_ages))
            kept["births"].append(np.asarray(flows.births))
            for name in ("deaths", "emigrations", "immigrations"):
                kept[name].append(np.asarray(getattr(flows, name)).sum(-1))
    coords = {"cell": start["cell"].values, "sex": start["sex"].values}
    no_flows = np.zeros((0, *start.shape[:2]))  # last == first: the jump-off alone
    return xr.Dataset(
        {
            "population": (("year", "cell", "sex", "age"), np.stack(populations)),
            **{
                name: (("event_year", "cell", "sex"), np.stack(values) if values else no_flows)
                for name, values in kept.items()
            },
        },
        coords={
            **coords,
            "age": start["age"].values,
            "year": np.arange(first, last + 1),
            "event_year": np.arange(first, last),
        },
    )


def by_kind(values: xr.DataArray, cells: GroupCells = CELLS) -> xr.DataArray:
    """Values by cell (..., cell, ...) -> by `KINDS` (..., kind, ...) summed over groups and durations."""
    index = np.zeros(cells.size, dtype=int)
    index[1 : 1 + cells.groups * cells.durations] = 1
    index[1 + cells.groups * cells.durations :] = 2
    kind = xr.DataArray(np.array(KINDS)[index], dims="cell")
    return values.groupby(kind.rename("kind")).sum().reindex(kind=list(KINDS))


def errors(reg: RegisteredGroups, result: xr.Dataset) -> xr.DataArray:
    """Relative error of the replayed 1 January stocks against the registered ones (year, kind), kind
    `KINDS` and "total"; years after the jump-off."""
    replayed = by_kind(result["population"].sum(["sex", "age"]))
    years = result["year"].values[1:]
    registered = reg.main_groups.sel(year=years).sum("sex").rename(category="kind")
    registered = registered.assign_coords(kind=["immigrants", "norwegian_born", "rest"]).reindex(
        kind=list(KINDS)
    )
    relative = replayed.sel(year=years) / registered - 1.0
    total = replayed.sel(year=years).sum("kind") / reg.population.sel(year=years).sum(["sex", "age"]) - 1.0
    return xr.concat([relative, total.expand_dims(kind=["total"])], "kind").transpose("year", "kind")


def reconstruction_year(reg: RegisteredGroups, year: int) -> int:
    """The last year, at most `year`, whose immigrants are registered by age: where a jump-off is rebuilt
    from the registers (`jump_off`) before `replayed_jump_off` carries it on."""
    with_ages = reg.age_groups["year"].values
    if not (with_ages <= year).any():
        raise ValueError(f"no year up to {year} has immigrants registered by age (first: {with_ages.min()})")
    return int(with_ages[with_ages <= year].max())


def replayed_jump_off(
    reg: RegisteredGroups, year: int, cells: GroupCells = CELLS, start: xr.DataArray | None = None
) -> xr.DataArray:
    """The grouped population (cell, sex, age) on 1 January `year`: the reconstruction of
    `reconstruction_year` (`start`, e.g. one of `jump_off_draws`; by default `jump_off`) replayed with
    observed flows (`replay`) to the last year with registered stocks by country group (at most `year`),
    where the immigrants of each group are scaled to the registered ones, and replayed on to `year`."""
    first = reconstruction_year(reg, year)
    by_group = reg.country_groups.sel(group=list(GROUPS))
    raked = min(year, int(by_group["year"].max()))
    population = replay(reg, first, raked, cells, start)["population"].isel(year=-1, drop=True)
    immigrants = population.values[1 : 1 + cells.groups * cells.durations]
    grouped = immigrants.reshape(cells.groups, cells.durations, *immigrants.shape[1:])
    factor = by_group.sel(year=raked).values / grouped.sum((1, 2, 3))
    grouped *= factor[:, None, None, None]
    population.values[1 : 1 + cells.groups * cells.durations] = grouped.reshape(immigrants.shape)
    if raked < year:
        population = replay(reg, raked, year, cells, population)["population"].isel(year=-1, drop=True)
    return population.assign_attrs(
        units="persons", date=f"1 January {year}", replayed_from=first, group_factors=factor.tolist()
    )
