"""The regional chunk function and its summaries on the demo run's national paths, with a synthetic
regional model (three regions, random levels per path and year): every stored year and path sums to the
national population by sex and age group, internal moves cancel, chunking does not change a path (beyond
float32 rounding), and the regional tables and probabilities equal the same statistics computed here from
the stored paths."""

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from stochpop.outputs.regional import BROAD_GROUPS, regional_tables
from stochpop.regions.paths import RegionalLevels, RegionalSchedules
from stochpop.regions.projection import AGE_GROUPS, RegionalProjection, by_age_group

REGIONS = ("a", "b", "c")


@dataclass(frozen=True)
class SyntheticRegions:
    """What `RegionalProjection` asks of a `RegionalModel`: levels keyed by path index (so chunks agree),
    held schedules, a jump-off stock, no municipalities."""

    start: np.ndarray
    regions: tuple[str, ...] = REGIONS
    municipalities: tuple[str, ...] = ()

    def levels(self, paths: np.ndarray, years: np.ndarray) -> RegionalLevels:
        draws = [np.random.default_rng([7, int(p)]).uniform(0.8, 1.25, (4, years.size, 3)) for p in paths]
        values = np.stack(draws, axis=2)  # (4, year, draw, region)
        destination = np.array([[0, 0.7, 0.3], [0.5, 0, 0.5], [0.6, 0.4, 0]])
        return RegionalLevels(
            *(jnp.asarray(v, jnp.float32) for v in values),
            jnp.broadcast_to(
                jnp.asarray(destination[..., None, None], jnp.float32), (years.size, 1, 3, 3, 1, 1)
            ),
        )

    @property
    def schedules(self) -> RegionalSchedules:
        return RegionalSchedules(jnp.full((3, 2, 120), 0.03, jnp.float32), jnp.ones((3, 1, 1), jnp.float32))


@pytest.fixture(scope="module")
def regional(demo_projection) -> tuple[RegionalProjection, xr.Dataset]:
    share = np.array([0.5, 0.3, 0.2])[:, None, None]
    model = SyntheticRegions(demo_projection.stock * share * np.array([1.0, 1.02, 0.98])[:, None, None])
    projection = RegionalProjection(demo_projection, model)  # type: ignore[arg-type]
    return projection, projection(0, 6)


def test_regions_sum_to_the_national_paths(regional) -> None:
    _, paths = regional
    national = xr.DataArray(
        by_age_group(paths["population"].values), dims=(*paths["population"].dims[:-1], "g")
    )
    regional_sum = paths["regional_population"].sum("region").values
    np.testing.assert_allclose(regional_sum, national.values, rtol=2e-5, atol=0.5)
    assert (paths["regional_population"] >= 0).all()
    assert list(paths["age_group"].values) == list(AGE_GROUPS)
    moves = paths["regional_internal_in"].sum("region") - paths["regional_internal_out"].sum("region")
    assert float(abs(moves).max()) < 1e-4 * float(paths["regional_internal_out"].sum("region").max())
    assert float(paths["regional_internal_out"].min()) > 0


def test_a_path_is_the_same_in_any_chunk(regional) -> None:
    projection, paths = regional
    later = projection(3, 6)
    for name in ("regional_population", "regional_births", "regional_internal_out"):
        # the same draws and shocks; float32 sums over regions may round differently in another batch shape
        np.testing.assert_allclose(later[name].values, paths[name].sel(draw=[3, 4, 5]).values, rtol=1e-6)


def test_tables_are_the_paths_statistics(regional) -> None:
    _, paths = regional
    years = [int(paths["year"].values[5]), int(paths["year"].values[-1])]
    tables = regional_tables(paths, [0.1, 0.5, 0.9], years)
    population = paths["regional_population"].sum("sex")
    first_age = np.array([int(g.rstrip("+").split("-")[0]) for g in AGE_GROUPS])
    for name, (low, high) in BROAD_GROUPS.items():
        inside = (first_age >= low) & (first_age <= (high if high is not None else 200))
        by_hand = population.isel(age_group=np.flatnonzero(inside)).sum("age_group")
        np.testing.assert_allclose(
            tables["regional_quantiles"][name].sel(quantile=0.5).values,
            np.quantile(by_hand.values, 0.5, axis=1),
            rtol=1e-6,
        )
    totals = population.sum("age_group")
    start = totals.isel(year=0).values
    for year in years:
        later = totals.sel(year=year).values
        table = tables["regional_probabilities"].sel(year=year)
        np.testing.assert_allclose(table["below_jump_off"].values, (later < start).mean(0))
        np.testing.assert_allclose(table["decline_over_10pct"].values, (later < 0.9 * start).mean(0))
        np.testing.assert_allclose(table["growth_over_10pct"].values, (later > 1.1 * start).mean(0))
    net = paths["regional_internal_in"] - paths["regional_internal_out"]
    np.testing.assert_allclose(
        tables["regional_quantiles"]["net_internal"].sel(quantile=0.9).values,
        np.quantile(net.values, 0.9, axis=1),
        rtol=1e-6,
    )
