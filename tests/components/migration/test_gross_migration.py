"""The demo's gross migration model with default settings: diagnostics, forecasts, predictive check,
save/load and the component rebuilt from its posterior."""

import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.fitting import read_diagnostics
from stochpop.components.migration import GrossMigrationModel
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.registry import component_from_posterior
from stochpop.conventions import MIGRATION_MAX_AGE, N_AGES
from stochpop.data.demo import demo_country


@pytest.fixture(scope="module")
def demo():
    return demo_country()


@pytest.fixture(scope="module")
def demo_fit(demo):
    """The demo country's gross model, default settings."""
    return GrossMigrationModel().fit(demo)


def test_gross_model_needs_gross_flows(norway):
    with pytest.raises(ValueError, match="Norway: GrossMigrationModel needs gross flows"):
        GrossMigrationModel().fit(norway)


@pytest.mark.slow
def test_demo_gross_fit_passes_diagnostics_with_default_settings(demo_fit):
    diagnostics = read_diagnostics(demo_fit)
    assert diagnostics.divergences == 0, diagnostics
    assert diagnostics.max_rhat <= 1.01, diagnostics
    assert diagnostics.min_ess_bulk >= 400, diagnostics


@pytest.mark.slow
def test_gross_component_rebuilt_from_posterior(demo_fit):
    assert component_from_posterior(demo_fit) == GrossMigrationModel()


@pytest.mark.slow
def test_demo_gross_forecast(demo_fit, demo, tmp_path):
    model = GrossMigrationModel()
    years = np.arange(2025, 2101)
    forecast = model.forecast(demo_fit, years, 1000, jax.random.PRNGKey(1))
    emigration, immigration = forecast["emigration"], forecast["immigration"]
    assert emigration.shape == immigration.shape == (1000, years.size, 2, N_AGES)
    assert not forecast.to_array().isnull().any()
    assert float(emigration.min()) >= 0.0 and float(emigration.max()) <= 1.0
    assert float(immigration.min()) >= 0.0
    above = {"age": slice(MIGRATION_MAX_AGE + 1, None)}
    assert (emigration.sel(above) == 0).all() and (immigration.sel(above) == 0).all()
    np.testing.assert_allclose(immigration.sum(("sex", "age")), forecast["total_immigration"], rtol=1e-3)
    at_risk = demo_fit.constant_data["at_risk"].isel(year=-1, drop=True)
    np.testing.assert_allclose(
        (emigration.sel(age=at_risk["age"]) * at_risk).sum(("sex", "age")),
        forecast["total_emigration"],
        rtol=1e-4,
    )
    # the demo's immigration eases towards 50 000 a year, emigration probabilities peak near 1%
    median = forecast["total_immigration"].median("draw")
    assert 35_000 < float(median.sel(year=2025)) < 70_000
    assert 0.005 < float(emigration.max("age").median()) < 0.02
    shares = model.posterior_predictive_check(demo_fit, demo)
    assert all(0.8 <= share <= 1.0 for share in shares.values()), shares
    assert model.posterior_predictive_check(demo_fit) == shares  # the stored observations
    reloaded = load_posterior(save_posterior(demo_fit, tmp_path / "gross.nc"))
    key = jax.random.PRNGKey(2)
    whole = model.forecast(demo_fit, [2030], 200, key)
    xr.testing.assert_identical(whole, model.forecast(reloaded, [2030], 200, key))
    part = model.forecast(demo_fit, [2030], np.arange(190, 200), key)
    xr.testing.assert_allclose(part, whole.sel(draw=np.arange(190, 200)), rtol=1e-6)
