"""The one route: sampled paths (rates from components' values) and lines (given rates) through the same
compiled projection give the same results, in the same format."""

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from stochpop.components.contract import FertilityValues, MigrationValues, MortalityValues
from stochpop.conventions import KERNEL_AGES
from stochpop.data.demo import demo_country
from stochpop.projection.conversion import RateConversion, rate_set, woman_years_per_woman
from stochpop.projection.lines import project_lines
from stochpop.projection.rate_sets import to_kernel_ages
from stochpop.projection.results import results_dataset
from stochpop.projection.sampled import DriverInputs, DriverRates
from stochpop.projection.simulate import checked, rates_by_year, simulate

JUMP_OFF, HORIZON, PATHS = 2025, 12, 4


@dataclass(frozen=True)
class GivenMortality:
    """A component whose series are its values: death rates (draw, sex, age) by completed age."""

    def values(self, fixed: None, step: jnp.ndarray) -> MortalityValues:
        return MortalityValues(mortality=step, e0=1.0 / step.mean(-1))


@dataclass(frozen=True)
class GivenFertility:
    def values(self, fixed: None, step: jnp.ndarray) -> FertilityValues:
        return FertilityValues(fertility=step, tfr=step.sum(-1), mean_age=step.argmax(-1) + 15.0)


@dataclass(frozen=True)
class GivenNetMigration:
    def values(
        self, fixed: None, step: jnp.ndarray, population: jnp.ndarray | None = None
    ) -> MigrationValues:
        return MigrationValues(total=step.sum((-2, -1)), net_migration=step)


@pytest.fixture(scope="module")
def setting():
    """Paths of the demo's last observed rates, each scaled by its own random walk, as drivers."""
    demo = demo_country(seed=3)
    last = int(demo.years[-1])
    rng = np.random.default_rng(0)
    walk = np.exp(rng.normal(0, 0.03, (HORIZON, PATHS, 1, 1)).cumsum(0))
    mortality = to_kernel_ages(demo.mortality_rates.sel(year=last), fill="last").values * walk
    asfr = demo.asfr.sel(year=last, age=slice(15, 49))
    fertility = asfr.values * walk[..., 0]
    net = to_kernel_ages(demo.net_migration.sel(year=last)).values * walk
    series = tuple(jnp.asarray(a, jnp.float32) for a in (mortality, fertility, net))
    conversion = RateConversion.create(asfr["age"].values, woman_years_per_woman(demo))
    fixed = DriverInputs((None, None, None), conversion)
    source = DriverRates(GivenMortality(), GivenFertility(), GivenNetMigration())
    return demo, source, fixed, series


def test_paths_equal_their_rates_as_lines(setting):
    demo, source, fixed, series = setting
    initial = demo.population.sel(year=JUMP_OFF, drop=True)
    stock = to_kernel_ages(initial).values.astype(np.float32)
    draws = np.arange(PATHS)
    outputs = checked(
        *simulate(source, fixed, series, np.broadcast_to(stock, (PATHS, *stock.shape))), "paths"
    )
    paths = results_dataset(outputs, JUMP_OFF, {"draw": draws})
    by_year = rates_by_year(source, fixed, series, outputs["population"][:-1])
    rates = rate_set(by_year, draws, np.arange(JUMP_OFF, JUMP_OFF + HORIZON))
    lines = project_lines(initial, rates, JUMP_OFF, HORIZON)

    assert set(paths.data_vars) == {*lines.data_vars, "e0", "tfr"}
    assert paths["population"].dtype == np.float32 and lines["population"].dtype == np.float64
    for name, line in lines.data_vars.items():
        assert paths[name].dims == line.dims, name
        scale = float(np.abs(line).max())  # float32: net migration is a small difference
        np.testing.assert_allclose(paths[name], line, rtol=2e-5, atol=2e-6 * scale, err_msg=name)
    xr.testing.assert_equal(
        paths[["year", "event_year", "sex", "age"]], lines[["year", "event_year", "sex", "age"]]
    )
    np.testing.assert_array_equal(paths["age"], KERNEL_AGES)
    # what the paths keep of their components' values comes through the scan unchanged
    np.testing.assert_array_equal(paths["tfr"].transpose("event_year", "draw"), series[1].sum(-1))
    assert paths["e0"].dims == ("event_year", "draw", "sex")


def test_failed_checks_name_the_outputs(setting):
    demo, source, fixed, series = setting
    stock = to_kernel_ages(demo.population.sel(year=JUMP_OFF, drop=True)).values.astype(np.float32)
    broken = (series[0].at[3].set(jnp.nan), *series[1:])
    result = simulate(source, fixed, broken, np.broadcast_to(stock, (PATHS, *stock.shape)))
    with pytest.raises(ValueError, match=r"paths 0-3: non-finite or negative values in .*'population'"):
        checked(*result, "paths 0-3")
