"""The synthetic demo country: determinism, plausibility and internal consistency."""

import numpy as np
import pytest
import xarray as xr

from stochpop.conventions import MIGRATION_MAX_AGE, SEXES
from stochpop.data.container import CountryData
from stochpop.data.demo import FERTILITY_AGES, demo_country, simulate_demo
from stochpop.demography.lifetable import e0, mean_age_at_birth, total_fertility

FIELDS = ("population", "deaths", "births", "asfr", "immigration", "emigration")
OPEN_AGE = 100
"""e0 from the demo's data pools ages 100+ (the 110+ group is usually empty, as in Norway)."""


@pytest.fixture(scope="module")
def demo() -> CountryData:
    return demo_country(seed=0)


def _observed_e0(data: CountryData) -> np.ndarray:
    """e0 (year, sex) from the demo's own deaths and exposures, ages 100+ pooled into an open group."""
    rates = data.mortality_rates.sel(age=slice(0, OPEN_AGE - 1))
    deaths, exposure = xr.align(data.deaths, data.exposure, join="inner")
    oldest = {"age": slice(OPEN_AGE, None)}
    old = deaths.sel(oldest).sum("age") / exposure.sel(oldest).sum("age")
    m = xr.concat([rates, old.expand_dims(age=[OPEN_AGE])], "age").transpose("year", "sex", "age")
    return e0(m.values, np.asarray(SEXES))


def test_layout(demo):
    assert demo.name == "Demo"
    np.testing.assert_array_equal(demo.population["year"], np.arange(1985, 2026))
    np.testing.assert_array_equal(demo.population["age"], np.arange(111))
    np.testing.assert_array_equal(demo.years, np.arange(1985, 2025))
    assert demo.exposures is None
    np.testing.assert_array_equal(demo.asfr["age"], FERTILITY_AGES)
    assert FERTILITY_AGES[0] <= 15 and FERTILITY_AGES[-1] >= 49
    for name in FIELDS:
        assert getattr(demo, name).attrs["units"]


def test_same_seed_same_data_other_seed_differs(demo):
    again, other = demo_country(seed=0), demo_country(seed=1)
    for name in FIELDS:
        xr.testing.assert_identical(getattr(demo, name), getattr(again, name))
    assert not demo.deaths.equals(other.deaths)
    assert not demo.population.isel(year=-1).equals(other.population.isel(year=-1))
    xr.testing.assert_identical(demo.population.isel(year=0), other.population.isel(year=0))


def test_shorter_history():
    short = demo_country(seed=3, first_year=2000, n_years=5)
    np.testing.assert_array_equal(short.years, np.arange(2000, 2005))
    assert short.population.sizes["year"] == 6


def test_life_expectancy_plausible_and_close_to_truth(demo):
    observed = _observed_e0(demo)
    assert observed.shape == (40, 2)
    assert ((observed >= 70) & (observed <= 90)).all()
    assert (observed[:, 0] > observed[:, 1]).all()  # women outlive men
    assert (observed[-1] > observed[0] + 3).all()  # mortality improves
    true = e0(simulate_demo(seed=0).mortality, np.asarray(SEXES))
    np.testing.assert_allclose(observed, true, atol=0.5)


def test_fertility_plausible_and_close_to_truth(demo):
    tfr = total_fertility(demo.asfr.values)
    assert ((tfr >= 1.2) & (tfr <= 2.5)).all()
    np.testing.assert_allclose(tfr, total_fertility(simulate_demo(seed=0).fertility), atol=0.05)
    mean_age = mean_age_at_birth(demo.asfr.values, demo.asfr["age"].values)
    assert 26 < mean_age[0] < 28.5 and 30 < mean_age[-1] < 32
    boys_share = demo.births.sel(sex="male").sum() / demo.births.sum()
    assert float(boys_share) == pytest.approx(0.51369, abs=0.005)


def test_population_plausible(demo):
    assert (demo.population >= 0).all()
    total = demo.population.sum(["sex", "age"])
    assert ((total > 3.5e6) & (total < 7e6)).all()
    assert (total.diff("year") > 0).sum() > 30  # mostly growing


def test_no_migration_at_old_ages(demo):
    old = {"age": slice(MIGRATION_MAX_AGE + 1, None)}
    assert demo.immigration.sel(old).sum() == 0 and demo.emigration.sel(old).sum() == 0
    assert demo.immigration.sum(["sex", "age"]).min() > 10_000


def test_cohort_accounting_identity_exact():
    h = simulate_demo(seed=2)
    pop, upper, lower = h.population, h.deaths_upper, h.deaths_lower
    start = np.zeros_like(pop[:-1])
    start[..., 1:] = pop[:-1, :, :-1] - upper[..., :-1]  # cohort aged x-1 on 1 January, upper triangle
    start[..., -1] += pop[:-1, :, -1] - upper[..., -1]  # the open age keeps its own cohort
    start[..., 0] = h.births
    expected = start - lower - h.emigration + h.immigration
    np.testing.assert_array_equal(pop[1:], expected)
    np.testing.assert_array_equal(h.births.sum(axis=1), h.births_by_age.sum(axis=1))


def test_container_net_migration_matches_flows(demo):
    residual = demo.net_migration
    flows = (demo.immigration - demo.emigration).sel(year=residual["year"])
    total_flow = flows.sum(["sex", "age"])
    total_residual = residual.sum(["sex", "age"])
    assert (abs(total_residual - total_flow) <= 0.02 * abs(total_flow)).all()
    # By age the residual moves deaths between adjacent ages (squares -> parallelograms); the error is
    # of the order of the binomial noise of those deaths.
    deaths = demo.deaths.sel(year=residual["year"])
    nearby = deaths + deaths.shift(age=1, fill_value=0)
    assert (abs(residual - flows) <= 4 * np.sqrt(nearby + 1)).all()
