"""National paths with their regions, a chunk of paths at a time: the chunk function of a regional run.

    projection = RegionalProjection(national, model)   # a `PathProjection` and a `RegionalModel`
    projection(0, 500)                                  # paths 0..499: national and regional variables

Each chunk projects its national paths (`PathProjection.simulated`), computes their kernel rates for every
year (`simulate.rates_by_year`: (year, draw, ...), about 150 MB per 1 000 paths over 76 years in float32),
and projects the regions under them (`paths.regional_paths`: each path's regions sum to its national
population by sex and age), with each path's own regional draws (`RegionalModel.levels`, keyed by path
index, so any chunking gives the same paths). The regions' jump-off stock is the registered one scaled by
sex and age to the national jump-off stock (`paths.adjusted_to_national`: the regional file and the
national data may differ by a few persons).

Stored per path, besides the national variables (`results.results_dataset`):
* regional_population (year, draw, region, sex, age_group): 1 January, five-year groups (`AGE_GROUPS`);
* regional_<flow> (event_year, draw, region) for births, deaths, emigrations, immigrations, internal_in,
  internal_out and adjustment (persons the adjustment to the national path adds; negative: removes);
* municipal_population (year, draw, municipality) where the model breaks regions down to municipalities.
At 15 regions, 77 years and 357 municipalities: about 290 KB per path (float32).
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.projection.results import results_dataset
from stochpop.projection.sampled import PathProjection
from stochpop.regions.model import RegionalModel
from stochpop.regions.paths import RegionalPaths, adjusted_to_national, regional_paths

GROUP_WIDTH = 5
AGE_GROUPS = (*(f"{a}-{a + GROUP_WIDTH - 1}" for a in range(0, 100, GROUP_WIDTH)), "100+")
"""The stored regional age groups: 0-4, ..., 95-99, 100+."""
REGIONAL_FLOWS = {
    "births": "births",
    "deaths": "deaths",
    "emigrations": "emigrations",
    "immigrations": "immigrations",
    "internal_in": "transfers_in",
    "internal_out": "transfers_out",
}
"""Stored regional flow name -> its field of the kernel's `Flows`."""


def by_age_group(values: np.ndarray) -> np.ndarray:
    """(..., A) single years of age 0..119 -> (..., len(AGE_GROUPS)) five-year groups, the last open."""
    grouped = values[..., :100].reshape(*values.shape[:-1], -1, GROUP_WIDTH).sum(-1)
    return np.concatenate([grouped, values[..., 100:].sum(-1, keepdims=True)], axis=-1)


def regional_dataset(
    regional: RegionalPaths, start: np.ndarray, jump_off: int, draws: np.ndarray, regions: tuple[str, ...]
) -> xr.Dataset:
    """The stored regional variables (module docstring) of `regional_paths`' output and the regions'
    jump-off stock `start` (draw, R, 2, A)."""
    population = np.concatenate([start[None], np.asarray(regional.population)])
    stock_years = np.arange(jump_off, jump_off + population.shape[0])
    flows = {
        f"regional_{name}": (
            ("event_year", "draw", "region"),
            np.asarray(getattr(regional.flows, field)).sum(-1),
        )
        for name, field in REGIONAL_FLOWS.items()
    }
    adjustment = np.asarray(regional.adjustment).sum(-1)
    return xr.Dataset(
        {
            "regional_population": (
                ("year", "draw", "region", "sex", "age_group"),
                by_age_group(population),
                {"units": "persons"},
            ),
            **flows,
            "regional_adjustment": (("event_year", "draw", "region"), adjustment, {"units": "persons"}),
        },
        coords={
            "year": stock_years,
            "event_year": stock_years[:-1],
            "draw": draws,
            "region": list(regions),
            "sex": list(SEXES),
            "age_group": list(AGE_GROUPS),
        },
    )


@dataclass(frozen=True)
class RegionalProjection:
    """Paths start..stop-1 of a national projection and its regions (module docstring); picklable."""

    national: PathProjection
    model: RegionalModel

    def __call__(self, start: int, stop: int) -> xr.Dataset:
        draws = np.arange(start, stop)
        p = self.national
        outputs, fixed, series = p.simulated(draws)
        national_rates = jax.tree.map(lambda a: jnp.swapaxes(a, 0, 1), p.rates_of(outputs, fixed, series))
        regional_start = np.asarray(adjusted_to_national(jnp.asarray(self.model.start), jnp.asarray(p.stock)))
        regional_start = np.broadcast_to(regional_start, (draws.size, *regional_start.shape))
        regional = regional_paths(
            jnp.asarray(regional_start),
            national_rates,
            outputs["population"][1:],
            self.model.levels(draws, p.event_years),
            self.model.schedules,
        )
        if not bool(jnp.isfinite(regional.population).all() & (regional.population >= 0).all()):
            raise ValueError(f"paths {start}-{stop - 1}: non-finite or negative regional populations")
        dataset = results_dataset(outputs, p.jump_off, {"draw": draws})
        dataset = dataset.merge(
            regional_dataset(regional, regional_start, p.jump_off, draws, self.model.regions)
        )
        if self.model.municipalities:
            totals = dataset["regional_population"].sum(["sex", "age_group"]).values
            municipal = self.model.municipal(totals, draws, dataset["year"].values)
            dataset["municipal_population"] = xr.DataArray(
                municipal,
                dims=("year", "draw", "municipality"),
                coords={"municipality": list(self.model.municipalities)},
                attrs={"units": "persons"},
            )
        return dataset
