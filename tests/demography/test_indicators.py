"""Indicators of a population (NumPy and JAX) against direct computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.hmd import read_hmd_lifetable
from stochpop.demography.indicators import median_age, observed_indicators, stock_indicators


def test_stock_indicators_against_numpy():
    rng = np.random.default_rng(0)
    pop = rng.uniform(0, 1000, size=(3, 2, 120))
    out = stock_indicators(pop)
    by_age = pop.sum(1)
    np.testing.assert_allclose(out["age_65_plus"], by_age[:, 65:].sum(-1))
    np.testing.assert_allclose(out["old_age_dependency"], by_age[:, 65:].sum(-1) / by_age[:, 20:65].sum(-1))
    # Median age: half the population below it, persons spread evenly within each year of age.
    cumulative = np.cumsum(by_age, axis=-1)
    for y in range(3):
        x = int(np.searchsorted(cumulative[y], by_age[y].sum() / 2))
        below = cumulative[y, x] - by_age[y, x]
        assert float(out["median_age"][y]) == pytest.approx(x + (by_age[y].sum() / 2 - below) / by_age[y, x])


def test_median_age_of_a_uniform_population():
    pop = xr.DataArray(np.ones(80), dims="age", coords={"age": np.arange(80)})
    assert float(median_age(pop)) == pytest.approx(40.0)
    with pytest.raises(ValueError, match="starts at 0"):
        median_age(pop.sel(age=slice(15, None)))


def test_stock_indicators_in_jax_equal_numpy():
    rng = np.random.default_rng(1)
    pop = rng.uniform(0, 1000, size=(4, 3, 2, 120)).astype(np.float32)
    pop[0, 0] = 0.0  # an empty population: median age NaN
    with np.errstate(invalid="ignore"):  # the empty population's ratios are 0 / 0
        expected = stock_indicators(pop)
    with jax.enable_x64(False):
        got = jax.jit(lambda p: stock_indicators(p, jnp))(pop)
    assert set(got) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(got[name], value, rtol=2e-5, equal_nan=True, err_msg=name)
    assert np.isnan(expected["median_age"][0, 0])
    np.testing.assert_allclose(expected["age_80_plus"], pop.sum(-2)[..., 80:].sum(-1), rtol=1e-6)


def test_observed_indicators_match_the_registers(norway, shared_data):
    observed = observed_indicators(norway)
    hmd = {sex: read_hmd_lifetable(shared_data / f"norway/hmd/{sex[0]}ltper_1x1.txt") for sex in SEXES}
    years = np.arange(1990, 2023)
    for sex, table in hmd.items():
        registered = table["ex"].sel(age=0, year=years)
        np.testing.assert_allclose(observed["e0"].sel(sex=sex, event_year=years), registered, atol=0.05)
    assert float(observed["total_population"].sel(year=2018)) == 5_295_701
    assert float(observed["tfr"].sel(event_year=2018)) == pytest.approx(1.565, abs=1e-3)
    np.testing.assert_allclose(observed["births"], norway.births.sum("sex").rename(year="event_year"))
