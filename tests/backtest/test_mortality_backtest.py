"""The mortality-only back-test: the random walk with drift against its formula, no leakage past the
jump-off, the scores of a case against `sample_scores` and a hand computation, and (slow) the coherent
model through the jump-offs' processes on the demo country."""

import itertools
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from stochpop.backtest.mortality import (
    LEVELS,
    forecasts,
    models,
    mortality_backtest,
    mortality_data,
    rw_drift,
)
from stochpop.backtest.scores import sample_scores
from stochpop.components.settings import FitSettings
from stochpop.data.demo import demo_country
from stochpop.demography.indicators import observed_indicators


def _quiet(message: str) -> None:
    """A back-test log that prints nothing."""


@pytest.fixture(scope="module")
def demo():
    return demo_country(seed=0)


@pytest.fixture(scope="module")
def references(demo):
    """The two references from jump-offs 2010 and 2014 (data to 2024: the 2014 horizons stop at 11)."""
    chosen = models(["lee_carter", "rw_drift"], window=20)
    forecast = forecasts(demo, chosen, [2010, 2014], horizon=12, n_paths=300, seed=3, workers=0, log=_quiet)
    return mortality_backtest(forecast, demo)


def test_rw_drift_draws_follow_the_random_walk_with_drift_formula(demo):
    jump_off, window, n_paths = 2010, 5, 400_000
    draws = rw_drift(mortality_data(demo).known_at(jump_off), jump_off, 3, n_paths, seed=1, window=window)
    assert draws.dims == ("draw", "horizon", "sex") and draws.sizes == {
        "draw": n_paths,
        "horizon": 3,
        "sex": 2,
    }
    for sex in ("female", "male"):
        series = [
            float(observed_indicators(demo)["e0"].sel(event_year=y, sex=sex)) for y in range(2005, 2010)
        ]
        steps = [b - a for a, b in itertools.pairwise(series)]
        drift = sum(steps) / 4
        s2 = sum((d - drift) ** 2 for d in steps) / 3
        for h in (1, 2, 3):
            mean, var = series[-1] + h * drift, h * s2 + h**2 * s2 / 4
            sample = draws.sel(sex=sex, horizon=h).values
            assert sample.mean() == pytest.approx(mean, abs=5 * np.sqrt(var / n_paths))
            assert sample.var() == pytest.approx(var, rel=5 * np.sqrt(2 / n_paths))


def test_nothing_registered_from_the_jump_off_on_changes_the_references(demo):
    deaths = demo.deaths.where(demo.deaths["year"] < 2010, 1.5 * demo.deaths)
    population = demo.population.where(demo.population["year"] <= 2010, 0.7 * demo.population)
    changed = replace(demo, deaths=deaths, population=population)
    chosen = models(["lee_carter", "rw_drift"], window=20)
    before, after = (forecasts(d, chosen, [2010], 5, 100, workers=0, log=_quiet) for d in (demo, changed))
    xr.testing.assert_identical(before, after)
    e0 = [observed_indicators(d)["e0"].sel(event_year=2010) for d in (demo, changed)]
    assert not np.allclose(e0[0], e0[1])  # the change is real: the registered e0 of 2010 moved


def test_a_case_scores_as_sample_scores_and_by_hand(demo, references):
    cases, pooled_tables = references.cases, references.pooled
    assert cases["covered"].dims == ("model", "jump_off", "horizon", "sex", "level")
    assert cases["crps"].sel(jump_off=2014, horizon=12).isnull().all()  # 2025: not registered
    assert cases["crps"].sel(jump_off=2014, horizon=11).notnull().all()
    case = {"model": "rw_drift", "jump_off": 2014, "horizon": 3, "sex": "male"}
    draws = references.forecast.sel(case).values
    y = float(observed_indicators(demo)["e0"].sel(event_year=2016, sex="male"))
    alone = sample_scores(
        xr.Dataset({"e0_male": (("draw", "horizon"), draws[:, None])}, coords={"horizon": [1]}),
        xr.Dataset({"e0_male": ("horizon", [y])}, coords={"horizon": [1]}),
        LEVELS,
    ).sel(target="e0_male", horizon=1)
    scored = cases.sel(case)
    for name in ("registered", "median", "covered", "interval_score", "crps", "pit"):
        np.testing.assert_allclose(scored[name].values, alone[name].values, rtol=1e-12)
    m = draws.size
    fair_crps = np.abs(draws - y).mean() - np.abs(draws[:, None] - draws[None]).sum() / (2 * m * (m - 1))
    assert float(scored["crps"]) == pytest.approx(fair_crps, rel=1e-9)
    assert float(scored["pit"]) == pytest.approx((draws < y).mean())
    for level in LEVELS:
        low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
        score = (high - low) + 2 / (1 - level) * (max(low - y, 0) + max(y - high, 0))
        assert float(scored["interval_score"].sel(level=level)) == pytest.approx(score)
        assert float(scored["covered"].sel(level=level)) == float(low <= y <= high)
    near = cases["covered"].sel(model="lee_carter", level=0.8, horizon=slice(1, 10))
    both = pooled_tables.sel(model="lee_carter", level=0.8, horizons="1-10", sex="both")
    assert float(both["coverage"]) == pytest.approx(float(near.mean()))
    assert int(both["n"]) == 2 * 10 * 2
    assert int(pooled_tables["n"].sel(model="rw_drift", horizons="1-20", sex="female")) == 12 + 11


@pytest.mark.slow
def test_coherent_model_in_the_jump_offs_processes(demo):
    chosen = models(window=20, settings=FitSettings(warmup=100, samples=100), jump_off="observed")
    # 100 + 100 draws: the fits' diagnostic warnings (in the jump-offs' processes) are not the point
    forecast = forecasts(demo, chosen, [2008, 2012], horizon=10, n_paths=200, log=_quiet)
    result = mortality_backtest(forecast, demo)
    assert list(result.forecast["model"].values) == ["coherent", "lee_carter", "rw_drift"]
    assert np.isfinite(result.forecast.values).all()
    assert result.cases["crps"].notnull().all()
    error = result.cases["error"].sel(model="coherent", horizon=1)
    assert (abs(error) < 1.0).all()  # one year ahead: the jump-off is the observed rates
