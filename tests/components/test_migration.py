"""Migration components: recovery from simulated data, Norway's net model and the demo's gross model with
default settings (diagnostics), forecasts (shapes, ranges, widening intervals), save/load, checks."""

import warnings

import jax
import numpy as np
import pytest
import scipy.stats as st
import xarray as xr

from stochpop.components.fitting import FitWarning, read_diagnostics
from stochpop.components.migration import (
    AR1,
    GROSS_SCALARS,
    NET_SCALARS,
    GrossMigrationModel,
    NetMigrationModel,
    age_basis,
    ar1_recursion,
    schedule_knots,
)
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.settings import FitSettings
from stochpop.conventions import MIGRATION_MAX_AGE, N_AGES, SEXES
from stochpop.data.demo import demo_country

QUICK = FitSettings(warmup=300, samples=300, seed=1)
"""Smaller fits for the recovery tests (their diagnostics are not the point; their FitWarnings are muted)."""
NORWAY = NetMigrationModel(first_year=1990, last_year=2017)
HORIZON = np.arange(2018, 2101)


def inside_90(idata, name: str, truth: float) -> bool:
    draws = idata.posterior[name].values.ravel()
    lo, hi = np.quantile(draws, [0.05, 0.95])
    return bool(lo <= truth <= hi)


def rogers_castro(ages: np.ndarray, peak: float) -> np.ndarray:
    labour = np.exp(-0.1 * (ages - peak) - np.exp(-0.4 * (ages - peak)))
    return 0.3 * np.exp(-0.1 * ages) + labour + 0.02


# --- fits shared by the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def norway_fit(norway):
    """Norway's net model, 1990-2017, default settings (the diagnostics test needs them)."""
    return NORWAY.fit(norway)


@pytest.fixture(scope="module")
def demo():
    return demo_country()


@pytest.fixture(scope="module")
def demo_fit(demo):
    """The demo country's gross model, default settings."""
    return GrossMigrationModel().fit(demo)


# --- pure pieces --------------------------------------------------------------------------------------------


def test_ar1_density_and_recursion_agree():
    x = np.array([1.0, 1.5, 0.7, 1.2])
    loc, phi, scale, df = 1.0, 0.6, 0.4, 5.0
    expected = st.t.logpdf(x[0], df, loc, scale / np.sqrt(1 - phi**2)) + sum(
        st.t.logpdf(x[t], df, loc + phi * (x[t - 1] - loc), scale) for t in range(1, 4)
    )
    assert float(AR1(loc, phi, scale, 4, df=df).log_prob(x)) == pytest.approx(expected, rel=1e-5)
    shocks = (x[1:] - loc - phi * (x[:-1] - loc)) / scale
    np.testing.assert_allclose(ar1_recursion(x[0], loc, phi, scale, shocks), x[1:], rtol=1e-6)
    paths = AR1(loc, phi, scale, 100).sample(jax.random.PRNGKey(0), (400,))
    assert paths.shape == (400, 100) and abs(float(paths.mean()) - loc) < 0.05
    assert float(paths.std()) == pytest.approx(scale / np.sqrt(1 - phi**2), rel=0.05)


def test_age_basis_is_a_partition_of_unity():
    ages = np.arange(111)
    basis = age_basis(ages, schedule_knots(110))
    np.testing.assert_allclose(basis.sum(1), 1.0, atol=1e-12)
    knots = schedule_knots(69)
    assert knots[0] == 0 and knots[-1] == 69 and knots[-1] - knots[-2] >= 3


# --- recovery -----------------------------------------------------------------------------------------------


def test_net_model_recovers_known_parameters():
    ages = np.arange(111)
    shape = rogers_castro(ages, 25.0) - 0.15 * np.exp(-(((ages - 62) / 6.0) ** 2))
    shape = np.where(ages > 95, 0.0, shape)
    schedule = np.stack([0.95 * shape, 1.05 * shape])
    truth = {"long_run_mean": 15.0, "persistence": 0.75, "shock_scale": 4.0, "shock_df": 8.0}
    noise = np.stack([0.02 + 0.06 * np.exp(-(((ages - 27) / 15.0) ** 2))] * 2)
    observed = NetMigrationModel.simulate(
        {**truth, "schedule": schedule, "noise_sd": noise}, np.arange(1960, 2020), jax.random.PRNGKey(3)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = NetMigrationModel().fit_observed(observed, population=5e6, settings=QUICK)
    for name in NET_SCALARS:
        assert inside_90(idata, name, truth[name]), (name, truth[name])
    fitted = idata.posterior["schedule"].mean(("chain", "draw")).values
    true = schedule / schedule.sum()
    assert np.abs(fitted - true).max() < 0.1 * true.max()


def test_gross_model_recovers_known_parameters(demo):
    model = GrossMigrationModel()
    at_risk = model.observations(demo)["at_risk"].isel(year=slice(10, None))
    ages = at_risk["age"].values
    basis = age_basis(ages, schedule_knots(int(ages.max())))
    coef = np.linalg.lstsq(basis, np.log(0.01 * rogers_castro(ages, 27.0)), rcond=None)[0]
    offsets = np.stack([coef - 0.15, coef + 0.1]) @ basis.T
    shares = np.stack([0.45 * rogers_castro(ages, 26.0), 0.55 * rogers_castro(ages, 28.0)])
    truth = {
        "immigration_mean": np.log(40.0),
        "immigration_persistence": 0.7,
        "immigration_shock_scale": 0.12,
        "immigration_shock_df": 8.0,
        "emigration_mean": 0.0,
        "emigration_persistence": 0.6,
        "emigration_shock_scale": 0.08,
    }
    truth["immigration_shock_sd"] = truth["immigration_shock_scale"] * np.sqrt(8.0 / 6.0)  # t(8) sd
    sim = model.simulate(
        {**truth, "immigration_schedule": shares, "emigration_schedule": offsets},
        at_risk,
        jax.random.PRNGKey(5),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = model.fit_observed(sim["immigration"], sim["emigration"], sim["at_risk"], 4.5e6, QUICK)
    # the model's emigration level is about the event-weighted mean log hazard: shift the truth there
    weight = idata.constant_data["emigration_weight"].values
    shift = float((weight * offsets).sum() / weight.sum())
    for name in GROSS_SCALARS:
        value = truth[name] + (shift if name == "emigration_mean" else 0.0)
        assert inside_90(idata, name, value), (name, value)


# --- Norway's net model -------------------------------------------------------------------------------------


def test_norway_net_fit_passes_diagnostics_with_default_settings(norway_fit):
    diagnostics = read_diagnostics(norway_fit)
    assert diagnostics.divergences == 0, diagnostics
    assert diagnostics.max_rhat <= 1.01, diagnostics
    assert diagnostics.min_ess_bulk >= 400, diagnostics
    assert norway_fit.posterior.sizes["chain"] == FitSettings().chains
    np.testing.assert_array_equal(norway_fit.constant_data["year"], np.arange(1990, 2018))


def test_norway_posterior_predictive_check(norway_fit, norway):
    shares = NORWAY.posterior_predictive_check(norway_fit, norway)
    assert 0.8 <= shares["cells"] <= 0.99, shares
    assert shares["totals"] >= 0.8, shares


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
    key = jax.random.PRNGKey(7)
    a = NORWAY.forecast(norway_fit, [2020, 2050], 300, key)
    b = NORWAY.forecast(reloaded, [2020, 2050], 300, key)
    xr.testing.assert_identical(a, b)
    # path-keyed: paths 290-299 drawn on their own are those paths of the 300
    part = NORWAY.forecast(norway_fit, [2020, 2050], np.arange(290, 300), key)
    xr.testing.assert_allclose(part, a.sel(draw=np.arange(290, 300)), rtol=1e-6)


# --- the demo's gross model ---------------------------------------------------------------------------------


def test_gross_model_needs_gross_flows(norway):
    with pytest.raises(ValueError, match="Norway: GrossMigrationModel needs gross flows"):
        GrossMigrationModel().fit(norway)


def test_demo_gross_fit_passes_diagnostics_with_default_settings(demo_fit):
    diagnostics = read_diagnostics(demo_fit)
    assert diagnostics.divergences == 0, diagnostics
    assert diagnostics.max_rhat <= 1.01, diagnostics
    assert diagnostics.min_ess_bulk >= 400, diagnostics


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
    # the demo's immigration eases towards 50 000 a year, emigration probabilities peak near 1%
    median = forecast["total_immigration"].median("draw")
    assert 35_000 < float(median.sel(year=2025)) < 70_000
    assert 0.005 < float(emigration.max("age").median()) < 0.02
    shares = model.posterior_predictive_check(demo_fit, demo)
    assert all(0.8 <= share <= 1.0 for share in shares.values()), shares
    reloaded = load_posterior(save_posterior(demo_fit, tmp_path / "gross.nc"))
    key = jax.random.PRNGKey(2)
    whole = model.forecast(demo_fit, [2030], 200, key)
    xr.testing.assert_identical(whole, model.forecast(reloaded, [2030], 200, key))
    part = model.forecast(demo_fit, [2030], np.arange(190, 200), key)
    xr.testing.assert_allclose(part, whole.sel(draw=np.arange(190, 200)), rtol=1e-6)
