"""Sampled paths: the components' posteriors -> each path's drivers -> the kernel, a chunk of paths at a time.

    projection = PathProjection.create(data, components, posterior_files, jump_off, horizon, seed)
    projection(0, 500)                                               # paths 0..499, a Dataset
    run_chunks(projection, n_paths, chunk_size, store, client)       # all paths via Dask, to zarr

A path is one joint future: its own posterior draw of every component and its own shocks, all from
fold_in(fold_in(PRNGKey(seed), component), path index) (`stochpop.components.randomness.path_keys`), so
the components stay together in the path (sample paths, not marginals combined afterwards) and any
chunking of the paths gives the same results (`stochpop.run.chunks`).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.contract import Component, Drivers, MigrationComponent
from stochpop.components.posterior import cached_posterior
from stochpop.components.randomness import Paths, path_indices
from stochpop.data.container import CountryData
from stochpop.projection.conversion import (
    PathValues,
    RateConversion,
    kernel_rates,
    rate_set,
    woman_years_per_woman,
)
from stochpop.projection.kernel import Rates
from stochpop.projection.rate_sets import to_kernel_ages
from stochpop.projection.results import results_dataset
from stochpop.projection.simulate import checked, rates_by_year, simulate

Array = jax.Array

COMPONENTS = ("mortality", "fertility", "migration")
"""Component names, in the order that numbers their random streams."""

PATHS_FORMAT = 3
"""Version of what a seed's paths are (samplers, stored layout); raise it when they change, so a run stored
before is not resumed with paths of another kind (2: Student-t shocks by
`components.randomness.student_t`; 3: every chunk carries its integrity record)."""


class DriverInputs(NamedTuple):
    """What the paths of a chunk keep every year: each component's `Drivers.fixed` (mortality, fertility,
    migration) and the `RateConversion`."""

    drivers_fixed: tuple[Any, Any, Any]
    conversion: RateConversion


@dataclass(frozen=True)
class DriverRates:
    """The rate source of sampled paths (`simulate.RateSource`): the components' `values` at a year of
    their drivers' series (mortality, fertility, migration) as kernel rates (`conversion.kernel_rates`),
    migration given each path's 1 January population (a net total may be a rate of it); every path keeps
    its e0 and tfr. `fixed` is `DriverInputs`."""

    mortality: Component
    fertility: Component
    migration: MigrationComponent

    def values(self, fixed: DriverInputs, step: tuple[Any, Any, Any], population: Array) -> PathValues:
        """The components' values of one year; `population` (draw, 2, A) the paths' 1 January stocks."""
        mortality, fertility, migration = fixed.drivers_fixed
        return PathValues(
            self.mortality.values(mortality, step[0]),
            self.fertility.values(fertility, step[1]),
            self.migration.values(migration, step[2], population),
        )

    def rates(self, fixed: DriverInputs, step: tuple[Any, Any, Any], population: Array) -> Rates:
        return kernel_rates(self.values(fixed, step, population), fixed.conversion)

    def kept(self, fixed: DriverInputs, step: tuple[Any, Any, Any]) -> dict[str, Array]:
        return {
            "e0": self.mortality.values(fixed.drivers_fixed[0], step[0]).e0,
            "tfr": self.fertility.values(fixed.drivers_fixed[1], step[1]).tfr,
        }


@dataclass(frozen=True)
class PathProjection:
    """Paths start..stop-1 of a projection; picklable (posteriors travel as file names), so Dask can call
    it on workers.

    initial: the 1 January jump-off stock (sex, age); fertility_ratio: `conversion.woman_years_per_woman`.
    """

    components: Mapping[str, Component]
    posteriors: Mapping[str, str]
    initial: xr.DataArray
    fertility_ratio: xr.DataArray
    jump_off: int
    horizon: int
    seed: int

    @classmethod
    def create(
        cls,
        data: CountryData,
        components: Mapping[str, Component],
        posteriors: Mapping[str, Path],
        jump_off: int,
        horizon: int,
        seed: int,
    ) -> "PathProjection":
        """Paths of `components` (fitted into the saved `posteriors`) from `data`'s 1 January `jump_off`
        stock, `horizon` years, with the randomness of `seed`."""
        if jump_off not in data.population["year"].values:
            raise ValueError(f"{data.name}: no 1 January population for the jump-off year {jump_off}")
        return cls(
            dict(components),
            {name: str(Path(path).resolve()) for name, path in posteriors.items()},
            data.population.sel(year=jump_off, drop=True),
            woman_years_per_woman(data),
            jump_off,
            horizon,
            seed,
        )

    @property
    def event_years(self) -> np.ndarray:
        return np.arange(self.jump_off, self.jump_off + self.horizon)

    def drivers(self, paths: Paths) -> dict[str, Drivers]:
        """Every component's `Drivers` for the event years, for `paths` (a count or path indices)."""
        key = jax.random.PRNGKey(self.seed)
        return {
            name: self.components[name].drivers(
                cached_posterior(self.posteriors[name]),
                self.event_years.tolist(),
                paths,
                jax.random.fold_in(key, i),
            )
            for i, name in enumerate(COMPONENTS)
        }

    @cached_property
    def stock(self) -> np.ndarray:
        """The jump-off stock as the kernel takes it: (sex, age 0..119) float32."""
        return to_kernel_ages(self.initial).transpose("sex", "age").values.astype(np.float32)

    @cached_property
    def conversion(self) -> RateConversion:
        """The `RateConversion` of the fertility component's ages and the data's woman-years per woman."""
        ages = cached_posterior(self.posteriors["fertility"])["posterior"]["age"].values
        return RateConversion.create(ages, self.fertility_ratio)

    @cached_property
    def source(self) -> DriverRates:
        """The paths' rate source (`DriverRates`) of the components."""
        c = self.components
        return DriverRates(c["mortality"], c["fertility"], cast(MigrationComponent, c["migration"]))

    def inputs(self, paths: Paths) -> tuple[DriverInputs, tuple[Any, Any, Any]]:
        """The fixed inputs and the series (leaves (year, draw, ...)) of `paths` (a count or path indices)
        for `simulate.simulate`."""
        by_name = self.drivers(paths)
        drivers = [by_name[name] for name in COMPONENTS]
        series = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), tuple(d.series for d in drivers))
        return DriverInputs(tuple(d.fixed for d in drivers), self.conversion), series

    def rates(self, paths: Paths) -> xr.Dataset:
        """The kernel rate set (draw, year, ...) of `paths` (`simulate.rates_by_year`, given the paths'
        1 January populations: `simulated`)."""
        draws = path_indices(paths)
        outputs, fixed, series = self.simulated(draws)
        return rate_set(self.rates_of(outputs, fixed, series), draws, self.event_years)

    def rates_of(self, outputs: dict[str, Array], fixed: DriverInputs, series: tuple[Any, Any, Any]) -> Rates:
        """The kernel rates (draw, year, ...) of paths that `simulated` returned: their `outputs`, `fixed`
        inputs and `series`."""
        return rates_by_year(self.source, fixed, series, outputs["population"][:-1])

    def simulated(self, draws: np.ndarray) -> tuple[dict[str, Array], DriverInputs, tuple[Any, Any, Any]]:
        """`simulate.simulate`'s outputs for the paths `draws` (ValueError naming the variables if any value
        is not finite or any population negative), and the paths' inputs (`inputs`)."""
        fixed, series = self.inputs(draws)
        initial = np.broadcast_to(self.stock, (draws.size, *self.stock.shape))
        outputs, checks = simulate(self.source, fixed, series, initial)
        return checked(outputs, checks, f"paths {draws[0]}-{draws[-1]}"), fixed, series

    def __call__(self, start: int, stop: int) -> xr.Dataset:
        """Paths start..stop-1 (`simulated`, labelled by `results.results_dataset` with dim `draw`):
        population (year, draw, sex, age), flows by sex (`births_by_sex`, ...), the population's indicators,
        event totals, e0 and tfr."""
        draws = np.arange(start, stop)
        return results_dataset(self.simulated(draws)[0], self.jump_off, {"draw": draws})
