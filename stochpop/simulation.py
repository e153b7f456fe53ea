"""A chunk of sampled paths through the kernel as one compiled program.

Every component's `Drivers` (a few numbers per path and year) become kernel rates year by year inside the
kernel's scan (`Component.values`, `rate_paths.kernel_rates`), and each year keeps only what a run stores:
the population by sex and age, the flows by sex, the population's indicators
(`indicators.stock_indicators`, computed while the year's population is in cache) and the components' own
indicators (`KEPT_VALUES`). Rate arrays (draw, year, sex, age) are never stored.
"""

from collections.abc import Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from stochpop.components.base import Component, Drivers
from stochpop.indicators import stock_indicators
from stochpop.kernel import DEFAULT_CONFIG, Flows, KernelConfig, project, sum_over_age
from stochpop.rate_paths import RateConversion, kernel_rates
from stochpop.results import FLOW_UNITS

Array = jax.Array
KEPT_VALUES: dict[str, tuple[str, ...]] = {"mortality": ("e0",), "fertility": ("tfr",)}
"""The components' values every path keeps, by component."""


@partial(jax.jit, static_argnames=("components", "config"))
def simulate_paths(
    components: tuple[tuple[str, Component], ...],
    drivers: Mapping[str, Drivers],
    initial: Array,
    conversion: RateConversion,
    config: KernelConfig = DEFAULT_CONFIG,
) -> tuple[dict[str, Array], dict[str, Array]]:
    """Project the paths of `drivers` (component name -> `Drivers`) from the 1 January stock `initial`
    (sex, age); components: ((name, component), ...) for mortality, fertility and migration.

    Returns (outputs, checks). outputs, by stock year (the jump-off and every later 1 January):
    population (year, draw, sex, age) and the `stock_indicators` (year, draw); by event year: births,
    deaths, emigrations and immigrations by sex (`<flow>_by_sex`, (event_year, draw, sex)) and in total,
    net_migration (event_year, draw), and the `KEPT_VALUES` (e0 (event_year, draw, sex), tfr (event_year,
    draw)). checks: output name -> True if every value is finite (and, for the population, >= 0).
    """
    fixed = {name: d.fixed for name, d in drivers.items()}
    series = {name: jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), d.series) for name, d in drivers.items()}
    n_draws = jax.tree.leaves(series)[0].shape[1]

    def values(step: Any) -> dict[str, dict[str, Array]]:
        return {name: component.values(fixed[name], step[name]) for name, component in components}

    def observe(population: Array, flows: Flows, step: Any) -> dict[str, Array]:
        step_values = values(step)  # the same computation as the rates': compiled once
        kept = {v: step_values[name][v] for name, names in KEPT_VALUES.items() for v in names}
        by_sex = sum_over_age(flows)
        return {
            "population": population,
            **stock_indicators(population, jnp),
            **{f"{name}_by_sex": getattr(by_sex, name) for name in FLOW_UNITS},
            **kept,
        }

    start = jnp.broadcast_to(initial, (n_draws, *initial.shape))
    yearly = project(
        start, series, lambda step: kernel_rates(values(step), conversion), config, observe=observe
    )
    first = {"population": start, **stock_indicators(start, jnp)}
    outputs = {
        name: jnp.concatenate([first[name][None], value]) if name in first else value
        for name, value in yearly.items()
    }
    outputs |= {name: outputs[f"{name}_by_sex"].sum(-1) for name in FLOW_UNITS}
    outputs["net_migration"] = outputs["immigrations"] - outputs["emigrations"]
    checks = {name: jnp.isfinite(value).all() for name, value in outputs.items()}
    checks["population"] &= (outputs["population"] >= 0).all()
    return outputs, checks
