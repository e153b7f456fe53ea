"""The fertility component on cheap SVI fits of the demo country: its options reach the model, it is
rebuilt from the posterior it fitted, and its posterior predictive check reads the births stored with the
fit."""

import math
from dataclasses import replace

import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.fertility import FertilityModel
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.registry import component_from_posterior
from stochpop.components.settings import FitSettings
from stochpop.data.demo import demo_country

SVI = FitSettings(method="svi", svi_steps=1500, svi_draws=500)
TIGHT = FertilityModel(long_run_tfr=1.3, long_run_log_sd=0.01)


@pytest.fixture(scope="module")
def tight_fit():
    """The demo country fitted by SVI with a tight long-run prior away from its own level."""
    return TIGHT.fit(demo_country(), SVI)


def test_long_run_prior_is_an_option_that_reaches_the_model(tight_fit):
    with pytest.raises(ValueError, match="long_run_tfr must be in"):
        FertilityModel(long_run_tfr=9.0)
    assert math.exp(float(tight_fit.posterior["log_tfr_mean"].median())) == pytest.approx(1.3, abs=0.03)
    # the demo's own level (TFR ~1.5-1.9) is far from 1.3: the default prior lets the data speak
    loose = FertilityModel().fit(demo_country(), SVI)
    assert math.exp(float(loose.posterior["log_tfr_mean"].median())) > 1.4


def test_component_is_rebuilt_from_its_posterior(tight_fit, tmp_path):
    assert tight_fit.posterior.attrs["model"] == "FertilityModel"
    assert component_from_posterior(tight_fit) == TIGHT
    reloaded = load_posterior(save_posterior(tight_fit, tmp_path / "fertility.nc"))
    rebuilt = component_from_posterior(reloaded)
    assert rebuilt == TIGHT and hash(rebuilt) == hash(TIGHT)


def test_posterior_predictive_check_defaults_to_the_stored_births(tight_fit):
    stored = TIGHT.posterior_predictive_check(tight_fit, n_draws=200)
    assert set(stored) == {"births"} and 0.0 <= stored["births"] <= 1.0
    assert TIGHT.posterior_predictive_check(tight_fit, demo_country(), n_draws=200) == stored
    without = tight_fit.copy()
    del without.constant_data["births"]
    with pytest.raises(ValueError, match="pass the data"):
        TIGHT.posterior_predictive_check(without, n_draws=200)


def test_observed_jump_off_continues_from_the_observed_age_pattern(tight_fit):
    """Same paths (same key), fitted vs observed jump-off: equal in fitted years; in every forecast year
    the observed one is the fitted one times observed / fitted ASFR of the last fitted year, per path and
    age (observed: the data's births over female exposure; ages without births unchanged)."""
    demo = demo_country()
    last = int(tight_fit.posterior["year"].values[-1])
    years = [last - 1, last, last + 1, last + 10]
    key = jax.random.PRNGKey(3)
    fitted = TIGHT.forecast(tight_fit, years, 50, key)["fertility"]
    observed = replace(TIGHT, jump_off="observed").forecast(tight_fit, years, 50, key)["fertility"]
    np.testing.assert_allclose(observed.sel(year=[last - 1, last]), fitted.sel(year=[last - 1, last]))
    data = TIGHT.observations(demo).sel(year=last, age=fitted["age"])  # births as the fit saw them
    expected = xr.where(data["births"] > 0, data["births"] / data["exposure"] / fitted.sel(year=last), 1.0)
    for year in (last + 1, last + 10):
        ratio = observed.sel(year=year) / fitted.sel(year=year)
        np.testing.assert_allclose(ratio, expected.transpose(*ratio.dims), rtol=1e-4)
    assert float(abs(np.log(expected)).max()) > 0.02  # the residual is not trivially 1
    with pytest.raises(ValueError, match="jump_off must be"):
        FertilityModel(jump_off="registered")
