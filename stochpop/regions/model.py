"""The regional model of a run: its fitted parts (saved posteriors) and each path's regional inputs drawn
from them.

Parts (`PARTS`; one posterior file each):
* fertility_levels, mortality_levels: the regions' level factors on the national rates (`levels`);
* internal: out-migration schedules, out-levels and destination shares (`internal_model`);
* international: the regions' shares of the national international migration (`immigration_shares`),
  fitted on counties and carried to other divisions' regions by `international_split` (each county's
  share split among its regions by their persons: `division_inputs.region_shares`);
* municipal: municipalities' shares of their region (`municipalities`), if the run breaks regions down;
* labour: the panel of net internal migration on unemployment (`labour_panel`), if the run has an
  unemployment scenario: each path's shift of net internal migration (`labour_panel.path_shifts`, the
  jump-off populations as weights) joins its `RegionalLevels.internal_shift`.

Each part draws from its own key, fold_in(PRNGKey(seed), `STREAMS[part]`) (the national components use
streams 0-2), and every path from fold_in(that key, path index): a path's regions do not depend on its
chunk. SSB's internal-migration letter (`internal`): "M" the model's paths; "K" the mean over `HELD_DRAWS`
posterior draws of the last fitted year's out-levels and destinations, held over the years and the same in
every path (the internal moves then vary only with the population); "0" nobody moves between regions.
`held` (a baseline for back-tests, as SSB's deterministic BEFREG): every part held that way, the level
factors and international shares too, so the regions vary only with their national path.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.posterior import cached_posterior
from stochpop.components.randomness import Paths
from stochpop.regions.immigration_shares import share_draws
from stochpop.regions.internal_model import InternalDraws, internal_draws
from stochpop.regions.labour_panel import CITY_COUNTIES, path_shifts
from stochpop.regions.levels import factor_draws
from stochpop.regions.municipalities import municipal_paths
from stochpop.regions.paths import RegionalLevels, RegionalSchedules

PARTS = ("fertility_levels", "mortality_levels", "internal", "international", "municipal", "labour")
STREAMS = {part: 100 + i for i, part in enumerate(PARTS)}
"""The key stream of each part (the national components use 0, 1, 2)."""
INTERNAL_LETTERS = ("M", "K", "0")
HELD_DRAWS = 1000
"""Posterior draws averaged for what is held (internal "K", or every part with `held`)."""


def _held(values: np.ndarray, paths: Paths, years: np.ndarray) -> np.ndarray:
    """The mean over draws of one year's values (1, draw, ...), the same for every year and path."""
    n = paths if isinstance(paths, int) else np.size(paths)
    mean = values.mean(1, keepdims=True)
    return np.broadcast_to(mean, (len(years), n, *mean.shape[2:]))


@dataclass(frozen=True)
class RegionalModel:
    """A run's regions: names, the jump-off year and their 1 January stock `start` (R, 2, A) at kernel
    ages, the saved posteriors of `PARTS` (part -> file; "municipal" only with a municipal breakdown), the
    run's seed, the internal-migration letter, the municipalities (code -> region code) of the breakdown, if
    any, with their registered jump-off stock, `held` (module docstring), and an unemployment scenario's
    change (year, region; percentage points) with the "labour" posterior, and `international_split` (R, C)
    where the international shares are fitted on C counties and the regions are others (None: the regions
    are the counties). Picklable (posteriors travel as file names)."""

    regions: tuple[str, ...]
    jump_off: int
    start: np.ndarray
    posteriors: Mapping[str, str]
    seed: int
    internal: str = "M"
    municipal_regions: Mapping[str, str] | None = None
    municipal_start: np.ndarray | None = None
    held: bool = False
    unemployment: xr.DataArray | None = None
    international_split: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.internal not in INTERNAL_LETTERS:
            raise ValueError(f"internal migration letter {self.internal!r} is not one of {INTERNAL_LETTERS}")
        if self.start.shape[0] != len(self.regions):
            raise ValueError(f"start has {self.start.shape[0]} regions, the model {len(self.regions)}")
        split = self.international_split
        if split is not None and split.shape[0] != len(self.regions):
            raise ValueError(
                f"international_split has {split.shape[0]} regions, the model {len(self.regions)}"
            )

    def key(self, part: str) -> jax.Array:
        return jax.random.fold_in(jax.random.PRNGKey(self.seed), STREAMS[part])

    @property
    def municipalities(self) -> tuple[str, ...]:
        """The municipality codes of the breakdown (none without one)."""
        return tuple(self.municipal_regions or ())

    def internal_draws(self, paths: Paths, years: np.ndarray) -> InternalDraws:
        """Each path's internal migration for `years`, by the letter (module docstring)."""
        idata = cached_posterior(self.posteriors["internal"])
        key = self.key("internal")
        if self.internal == "M" and not self.held:
            return internal_draws(idata, key, paths, [int(y) for y in years])
        held = internal_draws(idata, key, HELD_DRAWS, [self.last_fitted_year])
        out_level = _held(held.out_level, paths, years) * (self.internal != "0")
        return InternalDraws(held.out_schedule, out_level, _held(held.destination, paths, years))

    @property
    def last_fitted_year(self) -> int:
        """The last event year the regional parts were fitted on: the year before the jump-off."""
        return self.jump_off - 1

    @cached_property
    def schedules(self) -> RegionalSchedules:
        """The held schedules: out-migration at level 1 (`InternalDraws.out_schedule`), and international
        migration shared alike at every sex and age."""
        schedule = self.internal_draws(1, np.array([self.last_fitted_year]))[0]
        return RegionalSchedules(
            jnp.asarray(schedule, jnp.float32), jnp.ones((len(self.regions), 1, 1), jnp.float32)
        )

    def levels(self, paths: Paths, years: np.ndarray) -> RegionalLevels:
        """Each path's `RegionalLevels` for the event `years` (year, draw, ...), float32."""
        internal = self.internal_draws(paths, years)

        def draws(part: str, draw: Callable[..., np.ndarray]) -> np.ndarray:
            idata, key = cached_posterior(self.posteriors[part]), self.key(part)
            if self.held:
                return _held(draw(idata, key, HELD_DRAWS, np.array([self.last_fitted_year])), paths, years)
            return draw(idata, key, paths, years)

        fertility, mortality = (
            draws(part, factor_draws) for part in ("fertility_levels", "mortality_levels")
        )
        international = draws("international", share_draws)
        if self.international_split is not None:
            international = international @ self.international_split.T
        shift = None if self.unemployment is None else self.shifts(paths, years)

        def f32(values: np.ndarray) -> jax.Array:
            return jnp.asarray(values, jnp.float32)

        return RegionalLevels(
            f32(fertility),
            f32(mortality),
            f32(internal.out_level),
            f32(international),
            f32(internal.destination[..., None, None]),
            None if shift is None else f32(shift),
        )

    def shifts(self, paths: Paths, years: np.ndarray) -> np.ndarray:
        """Each path's persons of net internal migration (year, draw, region) added by the unemployment
        scenario (`labour_panel.path_shifts`)."""
        if self.unemployment is None:
            raise ValueError("this regional model has no unemployment scenario")
        regions = list(self.regions)
        population = xr.DataArray(self.start.sum((-2, -1)), dims="region", coords={"region": regions})
        city = xr.DataArray(
            np.isin(regions, CITY_COUNTIES).astype(float), dims="region", coords={"region": regions}
        )
        change = self.unemployment.sel(year=years, region=regions)
        idata = cached_posterior(self.posteriors["labour"])
        return path_shifts(idata, self.key("labour"), paths, change, population, city)

    def municipal(self, regional: np.ndarray, paths: Paths, years: np.ndarray) -> np.ndarray:
        """Municipal persons (year, draw, municipality) from the paths' regional totals (year, draw,
        region) on 1 January of `years` (the first the jump-off, whose municipal stock is the registered
        one scaled to its region's total)."""
        if self.municipal_start is None or self.municipal_regions is None:
            raise ValueError("this regional model has no municipal breakdown")
        region_index = np.searchsorted(self.regions, [self.municipal_regions[m] for m in self.municipalities])
        registered = self.municipal_start / np.bincount(region_index, self.municipal_start)[region_index]
        first = registered * regional[:1, :, region_index]
        totals = xr.DataArray(
            regional[1:],
            dims=("year", "draw", "region"),
            coords={"year": years[1:], "region": list(self.regions)},
        )
        later = municipal_paths(
            totals, cached_posterior(self.posteriors["municipal"]), self.key("municipal"), paths, years[1:]
        )
        later = later.sel(municipality=list(self.municipalities)).transpose("year", "draw", "municipality")
        return np.concatenate([first, later.values])
