"""Norway's net migration model with default settings: diagnostics, predictive check, forecasts, save/load
and the component rebuilt from its posterior."""

import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.fitting import read_diagnostics
from stochpop.components.migration import NetMigrationModel
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.registry import component_from_posterior
from stochpop.components.settings import FitSettings
from stochpop.conventions import N_AGES, SEXES

NORWAY = NetMigrationModel(first_year=1990, last_year=2017)
HORIZON = np.arange(2018, 2101)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def norway_fit(norway):
    """Norway's net model, 1990-2017, default settings (the diagnostics test needs them)."""
    return NORWAY.fit(norway)


def test_norway_net_fit_passes_diagnostics_with_default_settings(norway_fit):
    diagnostics = read_diagnostics(norway_fit)
    assert diagnostics.divergences == 0, diagnostics
    assert diagnostics.max_rhat <= 1.01, diagnostics
    assert diagnostics.min_ess_bulk >= 400, diagnostics
    assert norway_fit.posterior.sizes["chain"] == FitSettings().chains
    np.testing.assert_array_equal(norway_fit.constant_data["year"], np.arange(1990, 2018))


def test_net_component_rebuilt_from_posterior(norway_fit):
    assert component_from_posterior(norway_fit) == NORWAY


def test_norway_posterior_predictive_check(norway_fit, norway):
    shares = NORWAY.posterior_predictive_check(norway_fit, norway, n_draws=1000)
    assert 0.8 <= shares["cells"] <= 0.99, shares
    assert shares["totals"] >= 0.8, shares
    assert NORWAY.posterior_predictive_check(norway_fit, n_draws=1000) == shares  # the stored observations
    wider = NORWAY.posterior_predictive_check(norway_fit, level=0.99)
    assert wider["cells"] > shares["cells"] and wider["totals"] >= shares["totals"]
    without = norway_fit.copy()
    without.constant_data = without.constant_data.drop_vars("net_migration")
    with pytest.raises(ValueError, match="pass the CountryData"):
        NORWAY.posterior_predictive_check(without)


def test_norway_net_forecast(norway_fit):
    forecast = NORWAY.forecast(norway_fit, HORIZON, 2000, jax.random.PRNGKey(0))
    net = forecast["net_migration"]
    assert net.dims == ("draw", "year", "sex", "age") and net.shape == (2000, HORIZON.size, 2, N_AGES)
    np.testing.assert_array_equal(net["year"], HORIZON)
    np.testing.assert_array_equal(net["age"], np.arange(N_AGES))
    assert tuple(net["sex"].values) == SEXES
    assert not net.isnull().any() and not forecast["total_net"].isnull().any()
    assert (net.sel(age=slice(111, None)) == 0).all()
    np.testing.assert_allclose(net.sum(("sex", "age")), forecast["total_net"], rtol=1e-3, atol=5.0)
    total = forecast["total_net"]
    width = total.quantile(0.9, "draw") - total.quantile(0.1, "draw")
    assert float(width.sel(year=2018)) < float(width.sel(year=2022)) < float(width.sel(year=2040))
    assert float(width.sel(year=2100)) > 1.5 * float(width.sel(year=2018))
    fitted_mean = float(norway_fit.constant_data["total"].mean()) * 1000.0
    median_2100 = float(total.sel(year=2100).median())
    assert 0.25 * fitted_mean < median_2100 < 2.0 * fitted_mean, (median_2100, fitted_mean)


def test_forecast_years_must_follow_the_fit(norway_fit):
    with pytest.raises(ValueError, match="after the fit period's last year 2017"):
        NORWAY.forecast(norway_fit, [2017, 2018], 10, jax.random.PRNGKey(0))


def test_net_save_load_round_trip(norway_fit, tmp_path):
    reloaded = load_posterior(save_posterior(norway_fit, tmp_path / "net.nc"))
    assert component_from_posterior(reloaded) == NORWAY
    key = jax.random.PRNGKey(7)
    a = NORWAY.forecast(norway_fit, [2020, 2050], 300, key)
    b = NORWAY.forecast(reloaded, [2020, 2050], 300, key)
    xr.testing.assert_identical(a, b)
    # path-keyed: paths 290-299 drawn on their own are those paths of the 300
    part = NORWAY.forecast(norway_fit, [2020, 2050], np.arange(290, 300), key)
    xr.testing.assert_allclose(part, a.sel(draw=np.arange(290, 300)), rtol=1e-6)
