"""The component contract: what every component family offers, and the typed values it hands the kernel.

A component is a small frozen dataclass of options (hashable: a projection compiles with it as a static
argument) with these methods:

required
    `fit(data, settings) -> az.InferenceData`: the posterior, with the component's class and options in
    `posterior.attrs` ("model", "options"), so `components.registry.component_from_posterior` rebuilds it;
    `drivers(idata, years, paths, key) -> Drivers`: its forecast in factored form (a few numbers per path
    and year);
    `values(fixed, step) -> MortalityValues | FertilityValues | MigrationValues`: one year's quantities
    (rates by age, e0, TFR, ...) from them, pure JAX, called inside the projection's scan, so full rate
    arrays of thousands of paths are never stored; a migration component's takes a third argument,
    `population` (draw,): each path's 1 January population, persons (None outside a projection), for
    totals that are rates of it;
    `forecast(idata, years, paths, key) -> xr.Dataset`: those values for every year, labelled.
optional (the same shape in every family that has them)
    `posterior_predictive_check(idata, data=None, level=0.9, n_draws=500, seed=0) -> dict[str, float]`:
    shares of observed values inside their central `level` posterior predictive intervals, by block;
    `simulate(parameters, data, key) -> CountryData`: `data` with the component's observations over the
    fit period replaced by draws from the model with known `parameters` (for recovery tests).
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import partial
from typing import Any, NamedTuple, Protocol

import arviz as az
import jax
import xarray as xr

from stochpop.components.randomness import Paths
from stochpop.components.settings import FitSettings
from stochpop.data.container import CountryData

Array = jax.Array


class Drivers(NamedTuple):
    """A component's forecast of some paths in factored form (float32 JAX arrays, any pytrees).

    fixed: what a path keeps every year (its schedules, loadings, levels), leaves (draw, ...) or shared by
        every path (broadcasting against those);
    series: what moves from year to year (indices, totals), leaves (draw, year, ...).
    """

    fixed: Any
    series: Any


class MortalityValues(NamedTuple):
    """One year of a mortality component, leading dims (draw, ...).

    mortality: (..., sex, age 0..119) central death rates by completed age (Lexis squares), per person-year;
    e0: (..., sex) life expectancy at birth in years.
    """

    mortality: Array
    e0: Array


class FertilityValues(NamedTuple):
    """One year of a fertility component, leading dims (draw, ...).

    fertility: (..., age) ASFR by mother's completed age, births per woman-year (ages of the fit);
    tfr: (...) births per woman; mean_age: (...) mean age at birth in years.
    """

    fertility: Array
    tfr: Array
    mean_age: Array


class MigrationValues(NamedTuple):
    """One year of a migration component by age at end of year, leading dims (draw, ...): either net
    migration (..., sex, age 0..119) in persons (negative: net outflow), or immigration (persons) and
    emigration (probabilities of the aged population). `total` (...) is the year's total the component
    forecasts (net persons, or immigrants)."""

    total: Array
    net_migration: Array | None = None
    immigration: Array | None = None
    emigration: Array | None = None


ComponentValues = MortalityValues | FertilityValues | MigrationValues


class Component(Protocol):
    """The interface every component family offers (see the module docstring)."""

    @property
    def name(self) -> str:
        """The component's role ("mortality", ...): a read-only field of the frozen dataclass."""
        ...

    def fit(self, data: CountryData, settings: FitSettings = ...) -> az.InferenceData: ...

    def drivers(self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array) -> Drivers: ...

    def values(self, fixed: Any, step: Any) -> Any:
        """One year's quantities (pure JAX, a `ComponentValues` bundle) from `Drivers.fixed` and `step`, the
        series of that year (leaves (draw, ...))."""
        ...

    def forecast(
        self, idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array
    ) -> xr.Dataset: ...


class MigrationComponent(Component, Protocol):
    """A migration component: its `values` also take each path's 1 January population (draw, sex, age)
    persons (None outside a projection), for totals that are rates of it."""

    def values(self, fixed: Any, step: Any, population: Array | None = None) -> Any: ...


@partial(jax.jit, static_argnums=0)
def values_by_year(component: Component, drivers: Drivers) -> Any:
    """`component.values` of every year of `drivers`, each value (draw, year, ...)."""
    return jax.vmap(component.values, in_axes=(None, 1), out_axes=1)(drivers.fixed, drivers.series)


def component_attrs(component: Any) -> dict[str, str]:
    """Posterior attributes naming a component (a frozen dataclass): its name, class and options (JSON),
    from which `stochpop.components.registry.component_from_posterior` rebuilds it."""
    return {
        "component": component.name,
        "model": type(component).__name__,
        "options": json.dumps(asdict(component)),
    }


def cast_options(component: Any, types: Mapping[str, type]) -> None:
    """Cast the named options of a frozen dataclass in place to plain Python types (None stays None), e.g.
    a NumPy integer year to int, so they are JSON-serialisable and a rebuilt component compares equal."""
    for name, kind in types.items():
        value = getattr(component, name)
        if value is not None:
            object.__setattr__(component, name, kind(value))
