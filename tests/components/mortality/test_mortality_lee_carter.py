"""The classic Lee-Carter (the deterministic baseline)."""

import jax
import numpy as np
import pytest
from scipy.optimize import brentq

from stochpop.components.mortality import LeeCarter
from stochpop.components.mortality.lee_carter import reestimate_indices
from stochpop.components.registry import component_from_posterior
from stochpop.components.settings import FitSettings

LAST_FIT_YEAR = 2017
FORECAST_YEARS = np.arange(LAST_FIT_YEAR + 1, 2101)


def test_lee_carter_baseline(norway, hmd_e0):
    component = LeeCarter(last_year=LAST_FIT_YEAR)
    idata = component.fit(norway, FitSettings(samples=500))
    # second stage: fitted deaths of every year equal the observed ones
    a, b, k = (idata.constant_data[name].values for name in ("a", "b", "k"))
    exposure = idata.constant_data["exposure"].values  # (year, sex, age)
    fitted = (exposure * np.exp(a[None] + b[None] * k.T[..., None])).sum(-1)
    np.testing.assert_allclose(fitted, idata.constant_data["observed_deaths"].values.sum(-1), rtol=1e-8)

    forecast = component.forecast(idata, FORECAST_YEARS, 1000, jax.random.PRNGKey(3))
    assert forecast["mortality"].shape == (1000, FORECAST_YEARS.size, 2, 120)
    assert np.isfinite(forecast["mortality"].values).all() and (forecast["mortality"].values > 0).all()
    years = np.arange(2018, 2022)
    error = forecast["e0"].sel(year=years).median("draw") - hmd_e0.sel(year=years)
    assert (np.abs(error) <= 0.7).all(), error.values


def test_lee_carter_rebuilt_from_its_fit(norway):
    component = LeeCarter(first_year=np.int64(1995), last_year=np.int64(LAST_FIT_YEAR), reestimate_k=False)
    idata = component.fit(norway, FitSettings(samples=10))
    assert idata.posterior.attrs["model"] == "LeeCarter"
    rebuilt = component_from_posterior(idata)
    assert rebuilt == component and hash(rebuilt) == hash(component)
    assert type(rebuilt.first_year) is int and type(rebuilt.last_year) is int


def test_second_stage_indices_match_a_root_finder_from_a_distant_start():
    """k(t) with sum_x E exp(a + b k) = sum_x D, against scipy's brentq per sex and year, from a start 60
    units below the roots (Newton on the totals themselves overshoots to overflow from there)."""
    rng = np.random.default_rng(0)
    ages = np.arange(101)
    a = np.stack([np.linspace(-9.0, -0.7, ages.size)] * 2)  # (sex, age)
    concentrated = np.where((ages >= 60) & (ages < 65), 0.2, 0.0)  # b summing to 1 over five ages
    b = np.stack([np.full(ages.size, 0.01), concentrated])
    exposure = rng.uniform(1e3, 1e5, (4, 2, ages.size))  # (year, sex, age)
    exposure[0, 1, -3:] = 0.0  # no one at the oldest ages: they add nothing
    true_k = rng.uniform(-20.0, 20.0, (2, 4))  # (sex, year)
    deaths = exposure * np.exp(a[None] + b[None] * true_k.T[..., None])
    found = reestimate_indices(a, b, true_k - 60.0, deaths, exposure)

    def excess(k: float, sex: int, year: int) -> float:
        return float((exposure[year, sex] * np.exp(a[sex] + b[sex] * k)).sum() - deaths[year, sex].sum())

    for sex, year in np.ndindex(2, 4):
        root = brentq(excess, -200.0, 200.0, args=(sex, year), xtol=1e-12)
        assert found[sex, year] == pytest.approx(root, abs=1e-8)
