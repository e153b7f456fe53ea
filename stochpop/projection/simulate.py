"""A chunk of sampled paths through the kernel as one compiled program.

Every component's `Drivers` (a few numbers per path and year) become kernel rates year by year inside the
kernel's scan (`Component.values`, `rate_paths.kernel_rates`), and each year keeps only what a run stores:
the population by sex and age, the flows by sex, the population's indicators
(`indicators.stock_indicators`, computed while the year's population is in cache) and the components' own
indicators (`KEPT_VALUES`). Rate arrays (draw, year, sex, age) are never stored.
"""

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from stochpop.components.contract import Component, Drivers
from stochpop.demography.indicators import stock_indicators
from stochpop.projection.conversion import RateConversion, kernel_rates
from stochpop.projection.kernel import DEFAULT_CONFIG, Flows, KernelConfig, Rates, project, sum_over_age
from stochpop.projection.results import FLOW_UNITS

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
    # One step past the horizon (its drivers repeat the last year's): each step keeps its 1 January
    # population, so the stocks of every year, the jump-off's included, come out of the scan as one array.
    series = {
        name: jax.tree.map(lambda a: jnp.swapaxes(jnp.concatenate([a, a[:, -1:]], axis=1), 0, 1), d.series)
        for name, d in drivers.items()
    }
    n_draws = jax.tree.leaves(series)[0].shape[1]
    values = _values_by_step(components, drivers)

    def observe(population: Array, following: Array, flows: Flows, step: Any) -> dict[str, Array]:
        step_values = values(step)  # the same computation as the rates': compiled once
        by_sex = sum_over_age(flows)
        events = {f"{name}_by_sex": getattr(by_sex, name) for name in FLOW_UNITS}
        events |= {v: step_values[name][v] for name, names in KEPT_VALUES.items() for v in names}
        sane = jnp.isfinite(population).all() & (population >= 0).all()
        return {"population": population, **stock_indicators(population, jnp), "events": events, "sane": sane}

    def rates(step: Any) -> Rates:
        return kernel_rates(values(step), conversion)

    start = jnp.broadcast_to(initial, (n_draws, *initial.shape))
    yearly = project(start, series, rates, config, observe=observe)
    checks = {"population": yearly.pop("sane").all()}
    events = {name: value[:-1] for name, value in yearly.pop("events").items()}  # not the step past
    outputs = {**yearly, **events}
    outputs |= {name: outputs[f"{name}_by_sex"].sum(-1) for name in FLOW_UNITS}
    outputs["net_migration"] = outputs["immigrations"] - outputs["emigrations"]
    checks |= {name: jnp.isfinite(value).all() for name, value in outputs.items() if name != "population"}
    return outputs, checks


@partial(jax.jit, static_argnames=("components",))
def rates_by_year(
    components: tuple[tuple[str, Component], ...], drivers: Mapping[str, Drivers], conversion: RateConversion
) -> Rates:
    """The kernel rates (draw, year, ...) of `drivers` for every year, all at once (for summaries that need
    the rates themselves, e.g. SSB's alternatives)."""
    values = _values_by_step(components, drivers)

    def rates(step: Any) -> Rates:
        return kernel_rates(values(step), conversion)

    series = {name: d.series for name, d in drivers.items()}
    return jax.vmap(rates, in_axes=1, out_axes=1)(series)


def _values_by_step(
    components: tuple[tuple[str, Component], ...], drivers: Mapping[str, Drivers]
) -> Callable[[Any], dict[str, dict[str, Array]]]:
    """step -> every component's values (`Component.values`) at one step of the drivers' series."""
    fixed = {name: d.fixed for name, d in drivers.items()}
    return lambda step: {name: component.values(fixed[name], step[name]) for name, component in components}
