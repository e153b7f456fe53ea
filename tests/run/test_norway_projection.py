"""Norway: the residual net migration against the UN, and the kernel replaying 2000-2020."""

import numpy as np
import pytest

from stochpop.data.wpp import read_wpp
from stochpop.projection.kernel import KernelConfig
from stochpop.projection.lines import project_deterministic
from stochpop.projection.rate_sets import observed_rates


def test_residual_net_migration_agrees_with_un_wpp(norway, shared_data):
    residual = norway.net_migration.sum(("sex", "age")).sel(year=slice(2000, 2022))
    un = 1000.0 * read_wpp(shared_data / "norway/wpp2024/migration.txt").sel(year=residual["year"])
    large = np.abs(un) > 10_000
    assert int(large.sum()) >= 18
    relative = np.abs(residual / un - 1).where(large, drop=True)
    assert float(relative.max()) < 0.05, relative.to_series().round(3).to_dict()


@pytest.fixture(scope="module")
def replay(norway):
    """From 1 January 2000 with the observed rates of 2000..2019, migration at every age."""
    rates = observed_rates(norway, np.arange(2000, 2020))
    return project_deterministic(norway, 2000, 20, rates=rates, config=KernelConfig(migration_max_age=None))


@pytest.mark.parametrize("year", [2010, 2020])
def test_kernel_reproduces_registered_population(norway, replay, year):
    projected = replay["population"].sel(year=year, age=slice(0, 110))
    registered = norway.population.sel(year=year)
    assert abs(float(projected.sum() / registered.sum()) - 1) < 0.001
    relative = (projected / registered - 1).sel(age=slice(0, 94))
    assert float(np.abs(relative).max()) < 0.02
    assert float(replay["population"].sel(year=year, age=slice(111, None)).sum()) < 10


def test_replayed_births_and_deaths_match_registered(norway, replay):
    """Fertility and mortality rates are used, not counts, yet the events come out as registered."""
    years = np.arange(2000, 2020)
    births = replay["births"].values
    deaths = replay["deaths"].values
    np.testing.assert_allclose(births, norway.births.sum("sex").sel(year=years), rtol=0.005)
    np.testing.assert_allclose(deaths, norway.deaths.sum(("sex", "age")).sel(year=years), rtol=0.01)
