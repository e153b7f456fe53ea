"""The one compiled projection: a batch of sampled paths or deterministic lines through the kernel.

A *rate source* (`RateSource`) turns each year of a series into kernel `Rates` inside the kernel's scan and
names the values of its own that every path keeps. Sampled paths build their rates from the components'
drivers (`sampled.DriverRates`: `Component.values`, then `conversion.kernel_rates`) and keep e0 and tfr; a
deterministic line is a path whose rates are given (`lines.GivenRates`). Each year keeps only what a run
stores: the population by sex and age, the flows by sex and the population's indicators
(`indicators.stock_indicators`, computed while the year's population is in cache), so rate arrays (draw,
year, sex, age) of sampled paths are never stored. `results.results_dataset` labels the outputs.
"""

from collections.abc import Mapping
from functools import partial
from typing import Any, Protocol

import jax
import jax.numpy as jnp

from stochpop.demography.indicators import stock_indicators
from stochpop.projection.kernel import DEFAULT_CONFIG, Flows, KernelConfig, Rates, project, sum_over_age
from stochpop.projection.results import BY_SEX, FLOW_UNITS

Array = jax.Array


class RateSource(Protocol):
    """Where a projection's rates come from; hashable (a `jit` static argument).

    `fixed` is what stays the same every year (any pytree of arrays), `step` one year of the series (its
    leaves (*batch, ...)), `population` the year's 1 January stock (*batch, sex, age).
    """

    def rates(self, fixed: Any, step: Any, population: Array) -> Rates:
        """The kernel rates of one year, leading dims (*batch,) or broadcasting against them."""
        ...

    def kept(self, fixed: Any, step: Any) -> dict[str, Array]:
        """The source's own values that every path keeps for the year (name -> (*batch, ...))."""
        ...


@partial(jax.jit, static_argnames=("source", "config"))
def simulate(
    source: RateSource, fixed: Any, series: Any, initial: Array, config: KernelConfig = DEFAULT_CONFIG
) -> tuple[dict[str, Array], dict[str, Array]]:
    """Project the 1 January stock `initial` (*batch, sex, age) over the years of `series` (pytree leaves
    (year, *batch, ...)) with the rates of `source` (and its `fixed` inputs).

    Returns (outputs, checks). outputs, by stock year (the jump-off and every later 1 January):
    population (year, *batch, sex, age) and the `stock_indicators` (year, *batch); by event year: births,
    deaths, emigrations and immigrations by sex (`<flow>_by_sex`, (event_year, *batch, sex)) and in total,
    net_migration (event_year, *batch), and the values the source keeps (`RateSource.kept`, (event_year,
    *batch, ...)). checks: output name -> True if every value is finite (and, for the population, >= 0).
    """
    # One step past the horizon (its series repeats the last year's): each step keeps its 1 January
    # population, so the stocks of every year, the jump-off's included, come out of the scan as one array.
    series = jax.tree.map(lambda a: jnp.concatenate([a, a[-1:]]), series)

    def observe(population: Array, following: Array, flows: Flows, step: Any) -> dict[str, Array]:
        kept = source.kept(fixed, step)  # the same computation as the rates': compiled once
        by_sex = sum_over_age(flows)
        events = {f"{name}_by_sex": getattr(by_sex, name) for name in FLOW_UNITS} | kept
        sane = jnp.isfinite(population).all() & (population >= 0).all()
        return {"population": population, **stock_indicators(population, jnp), "events": events, "sane": sane}

    yearly = project(
        initial, series, partial(source.rates, fixed), config, observe=observe, rates_see_population=True
    )
    checks = {"population": yearly.pop("sane").all()}
    events = {name: value[:-1] for name, value in yearly.pop("events").items()}  # not the step past
    outputs = {**yearly, **events}
    outputs |= {name: outputs[by_sex].sum(-1) for name, by_sex in zip(FLOW_UNITS, BY_SEX, strict=True)}
    outputs["net_migration"] = outputs["immigrations"] - outputs["emigrations"]
    checks |= {name: jnp.isfinite(value).all() for name, value in outputs.items() if name != "population"}
    return outputs, checks


def checked(outputs: dict[str, Array], checks: Mapping[str, Array], what: str) -> dict[str, Array]:
    """`simulate`'s outputs, or a ValueError naming `what` and the outputs that failed their checks."""
    failed = [name for name, ok in checks.items() if not bool(ok)]
    if failed:
        raise ValueError(f"{what}: non-finite or negative values in {failed}")
    return outputs


@partial(jax.jit, static_argnames=("source",))
def rates_by_year(source: RateSource, fixed: Any, series: Any, population: Array) -> Rates:
    """The kernel rates (*batch, year, ...) of `series` (leaves (year, *batch, ...)) for every year, all at
    once, given the 1 January stocks `population` (year, *batch, sex, age) that `simulate` projected
    (for summaries that need the rates themselves, e.g. SSB's alternatives)."""
    return jax.vmap(partial(source.rates, fixed), out_axes=1)(series, population)
