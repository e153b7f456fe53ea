"""Migration components recover known parameters from data simulated by their own models."""

import warnings

import jax
import numpy as np
import pytest

from stochpop.components.fitting import FitWarning
from stochpop.components.migration import (
    GROSS_SCALARS,
    NET_SCALARS,
    GrossMigrationModel,
    NetMigrationModel,
    age_basis,
    schedule_knots,
    simulate_net_migration,
)
from stochpop.components.registry import component_from_posterior
from stochpop.components.settings import FitSettings
from stochpop.data.demo import demo_country

QUICK = FitSettings(warmup=300, samples=300, seed=1)
"""Smaller fits for the recovery tests (their diagnostics are not the point; their FitWarnings are muted)."""

pytestmark = pytest.mark.slow


def inside_90(idata, name: str, truth: float) -> bool:
    draws = idata.posterior[name].values.ravel()
    lo, hi = np.quantile(draws, [0.05, 0.95])
    return bool(lo <= truth <= hi)


def rogers_castro(ages: np.ndarray, peak: float) -> np.ndarray:
    labour = np.exp(-0.1 * (ages - peak) - np.exp(-0.4 * (ages - peak)))
    return 0.3 * np.exp(-0.1 * ages) + labour + 0.02


def test_net_model_recovers_known_parameters():
    ages = np.arange(111)
    shape = rogers_castro(ages, 25.0) - 0.15 * np.exp(-(((ages - 62) / 6.0) ** 2))
    shape = np.where(ages > 95, 0.0, shape)
    schedule = np.stack([0.95 * shape, 1.05 * shape])
    truth = {"long_run_mean": 15.0, "persistence": 0.75, "shock_scale": 4.0, "shock_df": 8.0}
    noise = np.stack([0.02 + 0.06 * np.exp(-(((ages - 27) / 15.0) ** 2))] * 2)
    observed = simulate_net_migration(
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


def test_gross_model_recovers_known_parameters():
    model = GrossMigrationModel(first_year=1995)  # the demo's years with gross flows but the first 10
    at_risk = model.observations(demo_country())["at_risk"]
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
    simulated = model.simulate(
        {**truth, "immigration_schedule": shares, "emigration_schedule": offsets},
        demo_country(),
        jax.random.PRNGKey(5),
    )
    sim = model.observations(simulated)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = model.fit_observed(sim["immigration"], sim["emigration"], sim["at_risk"], 4.5e6, QUICK)
    assert component_from_posterior(idata) == model
    # the model's emigration level is about the event-weighted mean log hazard: shift the truth there
    weight = idata.constant_data["emigration_weight"].values
    shift = float((weight * offsets).sum() / weight.sum())
    for name in GROSS_SCALARS:
        value = truth[name] + (shift if name == "emigration_mean" else 0.0)
        assert inside_90(idata, name, value), (name, value)
