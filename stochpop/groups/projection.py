"""National paths with their population groups, a chunk of paths at a time: the chunk function of a grouped
run (BEFINN's groups, issue #14).

    projection = GroupedProjection(national, model)   # a `PathProjection` and a `GroupModel`
    projection(0, 500)                                 # paths 0..499: national and group variables

Each chunk projects its national paths (`PathProjection.simulated`), then the cells under them in one scan
that turns each year's national rates and the path's group inputs into rates by cell
(`paths.grouped_rates`): every path's cells sum to its national population by sex and age. Each path's
grouped jump-off stock is one of the model's draws (`GroupModel.start_draws`), adjusted by sex and age to
the national jump-off stock (the rest takes the difference).

Stored per path, besides the national variables (`results.results_dataset`), by `paths.GROUP_KINDS`:
* group_population (year, draw, group_kind): persons on 1 January; group_population_70plus: aged 70+;
* group_share, group_share_70plus (year, draw, group_kind): their shares of the population (of the 70+);
* group_births (event_year, draw, group_kind): births by the mother's kind;
* group_immigrations, group_emigrations (event_year, draw, group_kind): persons (the rest's are the
  positive and negative parts of its net migration, `paths` module docstring);
* immigrants, norwegian_born_to_immigrant_parents (year, draw): their totals over the country groups.
"""

from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.groups.model import GroupModel
from stochpop.groups.paths import GROUP_KINDS, GroupFixed, GroupStep, grouped_rates, kind_matrix
from stochpop.projection.kernel import Flows, KernelConfig, project
from stochpop.projection.results import results_dataset
from stochpop.projection.sampled import DriverInputs, DriverRates, PathProjection

Array = jax.Array

OLD_AGE = 70
"""First age of the old-age shares (the issue's "ages 70+")."""


def adjusted_start(start: np.ndarray, national: np.ndarray) -> np.ndarray:
    """Grouped stocks (..., C, 2, A) with the rest (cell 0) set to the national stock (2, A) minus the
    other cells; where those exceed the national stock, they are scaled down to it and the rest is 0."""
    adjusted = np.array(start, dtype=np.float64)
    others = adjusted[..., 1:, :, :].sum(-3)
    adjusted[..., 1:, :, :] *= np.where(others > national, national / np.maximum(others, 1e-30), 1.0)[
        ..., None, :, :
    ]
    adjusted[..., 0, :, :] = np.maximum(national - adjusted[..., 1:, :, :].sum(-3), 0.0)
    return adjusted


@partial(jax.jit, static_argnames=("source", "config"))
def grouped_scan(
    source: DriverRates,
    fixed: DriverInputs,
    series: Any,
    group_fixed: GroupFixed,
    group_series: GroupStep,
    initial: Array,
    kinds: Array,
    config: KernelConfig,
) -> dict[str, Array]:
    """Project the grouped stock `initial` (n, C, 2, A) under the national series (leaves (year, n, ...))
    and the group series (leaves (year, n, ...)); returns the group variables (module docstring) by kind
    `kinds` (C, K), unlabelled, and `sane`: True if every stock is finite and non-negative."""
    # One step past the horizon, as `simulate.simulate`: each step keeps its 1 January stock.
    inputs = jax.tree.map(lambda a: jnp.concatenate([a, a[-1:]]), (series, group_series))

    def rates(x: tuple[Any, GroupStep], population: Array):
        national = source.rates(fixed, x[0], population.sum(-3))
        return grouped_rates(national, group_fixed, x[1], population, config)

    def by_kind(values: Array) -> Array:
        return jnp.matmul(values, kinds, precision=jax.lax.Precision.HIGHEST)

    def observe(population: Array, following: Array, flows: Flows, x: Any) -> dict[str, Array]:
        assert flows.births_by_mother is not None  # the grouped rates route births
        return {
            "group_population": by_kind(population.sum((-2, -1))),
            "group_population_70plus": by_kind(population[..., OLD_AGE:].sum((-2, -1))),
            "group_births": by_kind(flows.births_by_mother.sum(-1)),
            "group_immigrations": by_kind(flows.immigrations.sum((-2, -1))),
            "group_emigrations": by_kind(flows.emigrations.sum((-2, -1))),
            "sane": jnp.isfinite(population).all() & (population >= 0).all(),
        }

    return project(initial, inputs, rates, config, observe=observe, rates_see_population=True)


@dataclass(frozen=True)
class GroupedProjection:
    """Paths start..stop-1 of a national projection and its groups (module docstring); picklable."""

    national: PathProjection
    model: GroupModel

    @property
    def config(self) -> KernelConfig:
        return KernelConfig(
            migration_max_age=self.model.max_age, reclassify=self.model.cells.duration_advance()
        )

    def __call__(self, start: int, stop: int) -> xr.Dataset:
        draws = np.arange(start, stop)
        p = self.national
        outputs, fixed, series = p.simulated(draws)
        group_fixed, group_series = self.model.inputs(draws, p.event_years)
        initial = adjusted_start(self.model.start[self.model.start_draws(draws)], p.stock)
        kept = grouped_scan(
            p.source,
            fixed,
            series,
            group_fixed,
            group_series,
            jnp.asarray(initial, jnp.float32),
            jnp.asarray(kind_matrix(self.model.cells), jnp.float32),
            self.config,
        )
        if not bool(kept.pop("sane").all()):
            raise ValueError(f"paths {start}-{stop - 1}: non-finite or negative grouped populations")
        dataset = results_dataset(outputs, p.jump_off, {"draw": draws})
        return dataset.merge(group_dataset(kept, dataset))


def group_dataset(kept: dict[str, Array], national: xr.Dataset) -> xr.Dataset:
    """The stored group variables (module docstring) of `grouped_scan`'s output, labelled like the national
    `results_dataset` `national` (its year, event_year and draw)."""
    stocks = {name: np.asarray(kept[name]) for name in ("group_population", "group_population_70plus")}
    events = {
        name: np.asarray(kept[name])[:-1]
        for name in ("group_births", "group_immigrations", "group_emigrations")
    }
    dims = ("draw", "group_kind")
    population, old = stocks["group_population"], stocks["group_population_70plus"]
    immigrants = population[..., 1:4].sum(-1)
    born = population[..., 4:7].sum(-1)
    variables = {
        **{name: (("year", *dims), values, {"units": "persons"}) for name, values in stocks.items()},
        "group_share": (("year", *dims), _shares(population), {"units": "1"}),
        "group_share_70plus": (("year", *dims), _shares(old), {"units": "1"}),
        **{name: (("event_year", *dims), values, {"units": "persons"}) for name, values in events.items()},
        "immigrants": (("year", "draw"), immigrants, {"units": "persons"}),
        "norwegian_born_to_immigrant_parents": (("year", "draw"), born, {"units": "persons"}),
    }
    coords = {name: national[name].values for name in ("year", "event_year", "draw")}
    return xr.Dataset(variables, coords={**coords, "group_kind": list(GROUP_KINDS)})


def _shares(values: np.ndarray) -> np.ndarray:
    """Values (..., K) over their sum; 0 where the sum is 0 (a path with nobody aged 70+)."""
    total = values.sum(-1, keepdims=True)
    return np.divide(values, total, out=np.zeros_like(values), where=total > 0)
