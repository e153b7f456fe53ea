"""Each path's grouped year: its national rates and its group draws -> the kernel's rates by cell, inside
the scan, with the year's 1 January population by cell (`kernel.project(..., rates_see_population=True)`).

The national path (mortality, fertility, net migration by sex and age) stays the path's total: the groups
divide it, as SSB's regional model is adjusted to the national one, so every path's cells sum to its
national path by sex and age.

* Mortality: the national rates in every cell (SSB's choice: group differences are under 10%, ch. 4.2).
* Fertility: the national schedule times the cell's relative level r_c (`fertility_factor`: the group
  fertility component's TFR ratio to the rest), divided by the births-weighted mean of r over the cells,
  sum_c r_c B_c / sum_c B_c with B_c the births the national schedule gives the women of cell c: the cells'
  births sum to the national path's births exactly. Births go by the mother's cell (`destination`: the
  share with an immigrant father becomes Norwegian-born to immigrant parents of her group).
* Emigration: the group emigration component's probabilities (business-cycle level, group x duration,
  sex, age) for immigrants and the Norwegian-born to immigrant parents, at most 1 - q (deaths first,
  where the two would exceed 1).
* Immigration: the year's total is the national net migration plus the emigrations of every cell at the
  component's probabilities (the rest's included), so gross immigration rises with the stocks that feed
  emigration; the group immigration component's shares give the immigrants of each country group, who
  arrive at duration 0 with their kind's age-sex schedule.
* The national net migration by sex and age minus the cells' gross flows above (the rest's emigration
  excluded) is the residual: where positive, it joins the rest (Norwegian-born returning, and the rest's
  emigrations netted out); where negative, it leaves every cell in proportion to what the cell has left
  after deaths and emigrations (an emigration probability of that remainder, added to the cell's), so a
  deep national outflow is never asked of the rest alone. Where it asks more than the cells hold, the
  year's arrivals at that sex and age are cut by the difference (to none where the national kernel caps
  its outflow at what the age holds). The national net by sex and age thus holds exactly; the residual
  counts as immigrations where positive and as emigrations where negative.
  The kernel gets gross rates only (immigration counts, emigration probabilities).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stochpop.conventions import N_AGES
from stochpop.demography.ageing import age_one_year
from stochpop.demography.groups import GroupCells
from stochpop.groups.immigration import KINDS
from stochpop.projection.kernel import (
    KernelConfig,
    Rates,
    aged_with_births,
    births,
    death_probability,
    migration_mask,
)

Array = jax.Array

GROUP_KINDS: tuple[str, ...] = (
    "rest",
    "immigrants g1",
    "immigrants g2",
    "immigrants g3",
    "norwegian-born g1",
    "norwegian-born g2",
    "norwegian-born g3",
)
"""The stored kinds of cells: the rest, immigrants of each country group (all durations), Norwegian-born to
immigrant parents by mother's country group (`GroupCells.kinds`)."""


class GroupFixed(NamedTuple):
    """A chunk's group inputs that stay the same every year (n paths, C cells, A = 120 kernel ages)."""

    cell_log_odds: Array  # (n, C) emigration log odds of each cell
    sex_log_odds: Array  # (n, 2) emigration log odds of women, men (0)
    age_offset: Array  # (2, 70) emigration log odds by sex and age 0..69
    destination: Array  # (n, C, C) births' destinations by the mother's cell
    arrivals: Array  # (3, C, 2, A) where each country group's immigrants arrive, by sex and age; sums to 1


class GroupStep(NamedTuple):
    """One year's group inputs of each path (n, ...)."""

    fertility_factor: Array  # (n, C) TFR relative to the rest
    emigration_level: Array  # (n,) business-cycle logit level
    immigrant_shares: Array  # (n, 3) the country groups' shares of the year's immigrations


def kind_matrix(cells: GroupCells) -> np.ndarray:
    """(C, 7) membership of each cell in `GROUP_KINDS`: values by cell @ it = values by kind."""
    return cells.kinds(np.eye(cells.size), axis=-1)


def arrival_schedules(schedule: np.ndarray, cells: GroupCells, max_age: int | None) -> np.ndarray:
    """Each country group's immigrations placed at duration 0 (G, C, 2, A) from the kinds' schedules
    (`immigration.KINDS`, 2, ages; any number of ages), cut above `max_age` (the kernel's last age with
    migration) and scaled to sum to 1."""
    padded = np.zeros((schedule.shape[0], 2, N_AGES))
    padded[..., : min(schedule.shape[-1], N_AGES)] = schedule[..., :N_AGES]
    if max_age is not None:
        padded[..., max_age + 1 :] = 0.0
    by_group = padded[1:] / padded[1:].sum((-2, -1), keepdims=True)
    placed = np.zeros((cells.groups, cells.size, 2, N_AGES))
    for g in range(1, cells.groups + 1):
        placed[g - 1, cells.immigrant(g, 0)] = by_group[g - 1]
    return placed


def emigration_by_cell(step: GroupStep, fixed: GroupFixed) -> Array:
    """The group emigration component's probabilities (n, C, 2, 70) of the year
    (`emigration.emigration_probabilities`), as odds / (1 + odds) with the odds a product of the factors'
    exponentials: exponentials of (n, C), (n, 2) and (2, 70) values instead of (n, C, 2, 70), the
    costliest step of the grouped year on a CPU."""
    cell = jnp.exp(step.emigration_level[:, None] + fixed.cell_log_odds)
    odds = cell[:, :, None, None] * jnp.exp(fixed.sex_log_odds)[:, None, :, None] * jnp.exp(fixed.age_offset)
    odds = jnp.minimum(odds, 1e30)  # an overflow to inf would give inf / inf
    return odds / (1.0 + odds)


def grouped_rates(
    national: Rates, fixed: GroupFixed, step: GroupStep, population: Array, config: KernelConfig
) -> Rates:
    """The year's `Rates` by cell (n, C, ...) from the national rates of the paths (fertility (n, 35),
    mortality (n, 2, A), net_migration (n, 2, A)) and the 1 January population by cell (n, C, 2, A)
    (module docstring): gross immigration and emigration in every cell, no net migration.

    Every cell dies at the national q, so nothing competes: the emigration probabilities are capped at
    1 - q, the kernel's exits are never scaled, and what the cells have left after deaths and emigrations
    sums to the national aged population times 1 - q minus the emigrations, with no pass over the cells
    for it (the cost of the grouped year is in such full-state passes).
    """
    if national.net_migration is None or national.immigration is not None or national.emigration is not None:
        raise ValueError("grouped paths need national net migration (projection.migration = 'net')")
    mortality = national.mortality[:, None]
    base = national.fertility[:, None, :]
    weight = births(population, base, config).sum(-1)  # (n, C) births at the national schedule
    births_total = weight.sum(-1)
    mean_factor = jnp.where(  # no women at risk (a path that lost them all): any factor gives no births
        births_total > 0, (step.fertility_factor * weight).sum(-1) / jnp.maximum(births_total, 1e-30), 1.0
    )
    fertility = base * (step.fertility_factor / mean_factor[:, None])[..., None]
    _, newborns, aged = aged_with_births(
        population, Rates(fertility, mortality, birth_destination=fixed.destination), config
    )

    dying = death_probability(national.mortality, config)  # (n, 2, A), every cell's
    mask = migration_mask(config, population.dtype)
    probabilities = emigration_by_cell(step, fixed)
    padding = [(0, 0)] * 3 + [(0, population.shape[-1] - probabilities.shape[-1])]
    component = jnp.minimum(jnp.pad(probabilities, padding), 1.0 - dying[:, None]) * mask
    leaving = component.at[:, 0].set(0.0)  # the rest's emigration is in the national net
    emigrations = (leaving * aged).sum(1)  # (n, 2, A)
    net = national.net_migration * mask
    rest_emigrations = (component[:, 0] * aged[:, 0]).sum((-2, -1))
    total = jnp.maximum(net.sum((-2, -1)) + emigrations.sum((-2, -1)) + rest_emigrations, 0.0)  # (n,)
    by_group = total[:, None] * step.immigrant_shares  # (n, G) the year's immigrants of each group
    highest = jax.lax.Precision.HIGHEST
    immigration = jnp.einsum("ng,gcsa->ncsa", by_group, fixed.arrivals, precision=highest)
    arrived = jnp.einsum("ng,gsa->nsa", by_group, fixed.arrivals.sum(1), precision=highest)

    residual = net - arrived + emigrations  # (n, 2, A): the national net not yet given
    left = age_one_year(population.sum(1), newborns.sum(1), jnp) * (1.0 - dying) - emigrations
    outflow = jnp.minimum(jnp.maximum(-residual, 0.0) / jnp.maximum(left, 1e-30), 1.0)  # of what is left
    shortfall = -residual - left  # > 0: the outflow asks more than the cells hold; the arrivals give it
    kept = jnp.where(
        arrived > shortfall, 1.0 - jnp.maximum(shortfall, 0.0) / jnp.maximum(arrived, 1e-30), 0.0
    )
    return Rates(
        fertility=fertility,
        mortality=mortality,
        immigration=(immigration * kept[:, None]).at[:, 0].add(jnp.maximum(residual, 0.0)),
        emigration=leaving + outflow[:, None] * (1.0 - dying[:, None] - leaving),
        birth_destination=fixed.destination,
    )


def immigrant_shares(kind_shares: np.ndarray) -> np.ndarray:
    """The country groups' shares of the immigrations (..., 3) from the shares of every kind of immigrant
    and non-immigrant (..., 4; `immigration.KINDS`)."""
    if kind_shares.shape[-1] != len(KINDS):
        raise ValueError(f"kind shares: last axis must have the {len(KINDS)} kinds {KINDS}")
    return kind_shares[..., 1:]
