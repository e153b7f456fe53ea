"""The classic Lee-Carter (the deterministic baseline)."""

import jax
import numpy as np

from stochpop.components.mortality import LeeCarter
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
