"""National paths with their population groups, a chunk of paths at a time: the chunk function of a grouped
run (BEFINN's groups, issue #14).

    projection = GroupedProjection(national, model)   # a `PathProjection` and a `GroupModel`
    projection(0, 500)                                 # paths 0..499: national and group variables

Each chunk projects its national paths (`PathProjection.simulated`) and takes their rates of every year,
then the cells under them in a scan (blocks of `PATH_BLOCK` paths) that turns each year's national rates
and the path's group inputs into rates by cell (`paths.grouped_rates`): every path's cells sum to its
national population by sex and age. Each path's grouped jump-off stock is one of the model's draws
(`GroupModel.start_draws`), adjusted by sex and age to the national jump-off stock (the rest takes the
difference).

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
from stochpop.projection.kernel import Flows, KernelConfig, Rates, project
from stochpop.projection.results import results_dataset
from stochpop.projection.sampled import PathProjection

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


PATH_BLOCK = 25
"""Paths a chunk's grouped scan projects together: the chunk is scanned one block after another, so a
block's 55-cell state (1.3 MB at 25 paths, float32) stays near a core's cache. Measured on one core here,
a chunk of 200 Norway paths to 2100: scan 1.08 s in blocks of 25, 1.13 s in blocks of 50, 1.48 s in one
block of 200 (best of 5)."""


def _path_blocks(values: Array, axis: int, size: int) -> Array:
    """`values` with its path axis `axis` split into blocks of `size` paths, the blocks first: (blocks,
    ..., size, ...); the last block filled up with copies of the last path."""
    n = values.shape[axis]
    blocks = -(-n // size)
    last = jnp.take(values, jnp.full(blocks * size - n, n - 1), axis=axis)
    filled = jnp.concatenate([values, last], axis=axis)
    return jnp.moveaxis(
        filled.reshape(*values.shape[:axis], blocks, size, *values.shape[axis + 1 :]), axis, 0
    )


@partial(jax.jit, static_argnames=("config", "block"))
def grouped_scan(
    national: Rates,
    group_fixed: GroupFixed,
    group_series: GroupStep,
    initial: Array,
    config: KernelConfig,
    block: int = PATH_BLOCK,
) -> dict[str, Array]:
    """Project the grouped stock `initial` (n, C, 2, A) under the national rates of the paths (leaves (year,
    n, ...)) and the group series (leaves (year, n, ...)), `block` paths at a time; returns the group
    variables (module docstring) by cell (year, n, C), unlabelled, and `sane`: True if every stock is
    finite and non-negative. (Summing the cells by kind here, a small product every year, cost an eighth
    of the scan on a CPU.)"""
    n = initial.shape[0]
    size = min(block, n)
    # One step past the horizon, as `simulate.simulate`: each step keeps its 1 January stock.
    series = jax.tree.map(
        lambda a: _path_blocks(jnp.concatenate([a, a[-1:]]), 1, size), (national, group_series)
    )
    shared = {"age_offset": group_fixed.age_offset, "arrivals": group_fixed.arrivals}
    own = {
        name: _path_blocks(getattr(group_fixed, name), 0, size)
        for name in GroupFixed._fields
        if name not in shared
    }

    def observe(population: Array, following: Array, flows: Flows, x: Any) -> dict[str, Array]:
        assert flows.births_by_mother is not None  # the grouped rates route births
        return {
            "group_population": population.sum((-2, -1)),
            "group_population_70plus": population[..., OLD_AGE:].sum((-2, -1)),
            "group_births": flows.births_by_mother.sum(-1),
            "group_immigrations": flows.immigrations.sum((-2, -1)),
            "group_emigrations": flows.emigrations.sum((-2, -1)),
            "sane": jnp.isfinite(population).all() & (population >= 0).all(),
        }

    def project_block(inputs: tuple[Any, dict[str, Array], Array]) -> dict[str, Array]:
        block_series, block_fixed, block_initial = inputs
        fixed = GroupFixed(**block_fixed, **shared)

        def rates(x: tuple[Rates, GroupStep], population: Array) -> Rates:
            return grouped_rates(x[0], fixed, x[1], population, config)

        return project(block_initial, block_series, rates, config, observe=observe, rates_see_population=True)

    kept = jax.lax.map(project_block, (series, own, _path_blocks(initial, 0, size)))
    sane = kept.pop("sane").all()
    joined = {
        name: jnp.moveaxis(v, 0, 1).reshape(v.shape[1], -1, *v.shape[3:])[:, :n] for name, v in kept.items()
    }
    return {**joined, "sane": sane}


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
        national = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), p.rates_of(outputs, fixed, series))
        group_fixed, group_series = self.model.inputs(draws, p.event_years)
        initial = adjusted_start(self.model.start[self.model.start_draws(draws)], p.stock)
        kept = grouped_scan(
            national, group_fixed, group_series, jnp.asarray(initial, jnp.float32), self.config
        )
        if not bool(kept.pop("sane").all()):
            raise ValueError(f"paths {start}-{stop - 1}: non-finite or negative grouped populations")
        dataset = results_dataset(outputs, p.jump_off, {"draw": draws})
        return dataset.merge(group_dataset(kept, dataset, kind_matrix(self.model.cells)))


def group_dataset(kept: dict[str, Array], national: xr.Dataset, kinds: np.ndarray) -> xr.Dataset:
    """The stored group variables (module docstring) of `grouped_scan`'s output by cell, summed by kind
    with `kinds` (C, K) and labelled like the national `results_dataset` `national` (its year, event_year
    and draw)."""
    by_kind = {name: (np.asarray(v, np.float64) @ kinds).astype(np.float32) for name, v in kept.items()}
    stocks = {name: by_kind[name] for name in ("group_population", "group_population_70plus")}
    events = {
        name: by_kind[name][:-1] for name in ("group_births", "group_immigrations", "group_emigrations")
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
