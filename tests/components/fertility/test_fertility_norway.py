"""Fertility on Norway 1990-2017: convergence with default settings, fit to observed TFR and mean age,
predictive coverage, long-run sanity of the forecasts, and forecast shapes / save-load reproducibility."""

import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.fertility import FertilityModel
from stochpop.components.fitting import read_diagnostics
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.demography.lifetable import mean_age_at_birth, total_fertility

pytestmark = pytest.mark.slow

NORWAY = FertilityModel(first_year=1990, last_year=2017)


@pytest.fixture(scope="module")
def norway_fit(norway):
    """Norway 1990-2017 with default FitSettings (2 chains x 1000 warmup + 1000 draws)."""
    return NORWAY.fit(norway)


@pytest.fixture(scope="module")
def norway_paths(norway_fit):
    """10 000 paths 2018-2100."""
    return NORWAY.forecast(norway_fit, np.arange(2018, 2101), 10_000, jax.random.PRNGKey(1))


def test_norway_fit_converges_with_default_settings(norway_fit):
    diagnostics = read_diagnostics(norway_fit)
    assert diagnostics is not None
    assert diagnostics.divergences == 0, str(diagnostics)
    assert diagnostics.max_rhat <= 1.01, str(diagnostics)
    assert diagnostics.min_ess_bulk >= 400, str(diagnostics)


def test_norway_fit_reproduces_observed_fertility(norway_fit, norway):
    years = norway_fit.posterior["year"].values
    asfr = norway.asfr.sel(year=years)
    observed_tfr = total_fertility(asfr.values)
    fitted_tfr = norway_fit.posterior["tfr"].median(("chain", "draw")).values
    assert np.abs(fitted_tfr - observed_tfr).max() < 0.05
    observed_age = mean_age_at_birth(asfr.values, asfr["age"].values)
    fitted_age = norway_fit.posterior["mean_age"].median(("chain", "draw")).values
    assert np.abs(fitted_age - observed_age).max() < 0.15
    coverage = NORWAY.posterior_predictive_check(norway_fit, norway, n_draws=1000)["births"]
    assert 0.85 <= coverage <= 0.99, coverage


def test_long_run_stays_sane(norway_paths):
    tfr_2100 = norway_paths["tfr"].sel(year=2100).values
    assert tfr_2100.size >= 5000
    assert np.mean((tfr_2100 >= 0.8) & (tfr_2100 <= 3.0)) >= 0.99
    age_2100 = norway_paths["mean_age"].sel(year=2100).values
    assert np.mean((age_2100 >= 26.0) & (age_2100 <= 38.0)) >= 0.99


def test_forecast_shapes_and_save_load_round_trip(norway_fit, norway_paths, tmp_path):
    paths = norway_paths
    assert paths["fertility"].dims == ("draw", "year", "age")
    # the ages with births in 1990-2017 (HFD publishes 12..55; the edges without a birth are left out)
    ages = paths["age"].values
    np.testing.assert_array_equal(ages, np.arange(ages[0], ages[-1] + 1))
    assert 12 <= ages[0] <= 14 and 50 <= ages[-1] <= 55
    assert paths["fertility"].shape == (10_000, 83, ages.size)
    np.testing.assert_array_equal(paths["year"], np.arange(2018, 2101))
    for name in ("fertility", "tfr", "mean_age"):
        assert np.isfinite(paths[name].values).all(), name
    assert (paths["fertility"].values > 0).all()
    np.testing.assert_allclose(paths["tfr"], paths["fertility"].sum("age"), rtol=1e-5)

    years, key = [2017, 2030, 2100, 2150], jax.random.PRNGKey(7)
    before = NORWAY.forecast(norway_fit, years, 300, key)
    reloaded = load_posterior(save_posterior(norway_fit, tmp_path / "fertility.nc"))
    after = NORWAY.forecast(reloaded, years, 300, key)
    for name in ("fertility", "tfr", "mean_age"):
        np.testing.assert_array_equal(before[name].values, after[name].values)
    # path-keyed: paths 290-299 drawn on their own are those paths of the 300
    part = NORWAY.forecast(norway_fit, years, np.arange(290, 300), key)
    xr.testing.assert_allclose(part, before.sel(draw=np.arange(290, 300)), rtol=1e-6)
    # a fit year gives the fitted values
    fitted_2017 = np.quantile(norway_fit.posterior["tfr"].sel(year=2017).values, 0.5)
    assert abs(float(before["tfr"].sel(year=2017).median()) - fitted_2017) < 0.01
