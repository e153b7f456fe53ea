"""The leakage-free conformal recalibration of back-test intervals, on synthetic forecasts whose true spread
is known."""

import numpy as np
import xarray as xr
from scipy import stats

from stochpop.backtest.recalibration import (
    MIN_CASES,
    conformal_scales,
    normalised_residuals,
    recalibrated_scores,
)
from stochpop.backtest.scores import interval_cases

LEVELS = np.array([0.5, 0.8, 0.95])


def synthetic_cases(true_sd: float, jump_offs: np.ndarray, horizons: np.ndarray, seed: int = 0) -> xr.Dataset:
    """Two targets whose model says normal errors of sd 1 per unit horizon^0.5 while the truth has
    `true_sd` times that; median 0."""
    rng = np.random.default_rng(seed)
    coords = {"target": ["a", "b"], "jump_off": jump_offs, "horizon": horizons}
    width = np.sqrt(horizons)[None, None, :] * np.ones((2, jump_offs.size, 1))
    registered = xr.DataArray(true_sd * width * rng.standard_normal(width.shape), coords=coords)
    registered = registered.where(registered["jump_off"] + registered["horizon"] <= jump_offs[-1] + 1)
    z = xr.DataArray(stats.norm.ppf(0.5 + LEVELS / 2), coords={"level": LEVELS})
    median = xr.zeros_like(registered).fillna(0.0)
    half = xr.DataArray(width, coords=coords) * z
    return interval_cases(registered, median, median - half, median + half)


def test_residual_is_at_most_one_exactly_inside_the_interval():
    cases = synthetic_cases(1.5, np.arange(2000, 2010), np.arange(1, 6))
    r = normalised_residuals(cases)
    seen = cases["registered"].notnull().broadcast_like(r)
    assert ((r <= 1) == (cases["covered"] == 1)).where(seen, True).all()
    assert r.where(~seen).isnull().all()


def test_scales_use_only_errors_observable_at_the_jump_off():
    jump_offs, horizons = np.arange(1980, 2020), np.arange(1, 11)
    cases = synthetic_cases(2.0, jump_offs, horizons)
    scales = conformal_scales(normalised_residuals(cases))
    at = 2000
    later = (cases["jump_off"] + cases["horizon"]) > at
    changed = cases.assign(registered=cases["registered"].where(~later, 1e6))
    rescaled = conformal_scales(normalised_residuals(changed))
    xr.testing.assert_equal(scales.sel(jump_off=at), rescaled.sel(jump_off=at))
    assert not scales.sel(jump_off=at + 5).equals(rescaled.sel(jump_off=at + 5))
    # n_past counts the registered cases with T' + h <= T
    expected = int(((jump_offs[:, None] + horizons[None, :]) <= at).sum())
    assert (scales["n_past"].sel(jump_off=at) == expected).all()


def test_too_few_past_cases_keep_the_raw_interval():
    cases = synthetic_cases(3.0, np.arange(2000, 2008), np.arange(1, 4))
    scales = conformal_scales(normalised_residuals(cases))
    few = scales["n_past"] < MIN_CASES
    assert few.any() and (scales["scale"].where(few) == 1).where(few, True).all()
    # 95% needs at least 19 cases for a finite conformal quantile
    n = scales["n_past"].broadcast_like(scales["scale"])
    needs = (n >= MIN_CASES) & (n < 19)
    assert (
        (scales["scale"].sel(level=0.95).where(needs.sel(level=0.95)) == 1)
        .where(needs.sel(level=0.95), True)
        .all()
    )


def test_recalibration_restores_coverage_of_too_narrow_intervals():
    """Model intervals half as wide as the truth: raw 80% intervals cover P(|Z| < 1.28 / 2) = 48%; once
    enough past errors are known the recalibrated ones cover close to 80% and the scale is close to 2."""
    jump_offs, horizons = np.arange(1900, 2020), np.arange(1, 6)
    raw = synthetic_cases(2.0, jump_offs, horizons, seed=1)
    fixed = recalibrated_scores(raw)
    late = fixed["jump_off"] >= 1930
    for level in (0.8, 0.95):
        raw_cover = float(raw["covered"].sel(level=level).where(late).mean())
        cover = float(fixed["covered"].sel(level=level).where(late).mean())
        expected_raw = 2 * stats.norm.cdf(stats.norm.ppf(0.5 + level / 2) / 2) - 1
        assert abs(raw_cover - expected_raw) < 0.04
        assert abs(cover - level) < 0.03, (level, cover)
    scale = fixed["scale"].sel(level=0.8).where(late)
    assert 1.8 < float(scale.median()) < 2.2
    assert float(fixed["interval_score"].where(late).mean()) < float(raw["interval_score"].where(late).mean())
