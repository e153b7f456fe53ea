"""The back-test report's coverage table: binomial bands against scipy's exact interval and its defining
tail probabilities, the nominal-level classification, counts against a direct count of hand-made cases,
and the report written from small hand-made forecasts (no fitting)."""

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from stochpop.backtest.report import _coverage_figure, coverage_band, coverage_table, write_report
from stochpop.backtest.scores import line_scores, sample_scores


def _cases(covered: np.ndarray, targets, jump_offs, horizons, levels) -> xr.Dataset:
    """Cases in the shape of `scores.sample_scores`: covered (target, jump_off, horizon, level), 0/1 or NaN
    where nothing is registered; registered NaN on the same cases."""
    coords = {"target": targets, "jump_off": jump_offs, "horizon": horizons, "level": levels}
    registered = np.where(np.isnan(covered[..., 0]), np.nan, 100.0)
    return xr.Dataset(
        {
            "covered": (("target", "jump_off", "horizon", "level"), covered),
            "registered": (("target", "jump_off", "horizon"), registered),
        },
        coords=coords,
    )


def test_band_is_scipys_exact_interval_with_its_tail_probabilities():
    k = np.array([0, 1, 8, 10, 37])
    n = np.array([10, 10, 10, 10, 40])
    low, high = coverage_band(k, n, 0.9)
    for ki, ni, lo, hi in zip(k, n, low, high, strict=True):
        expected = stats.binomtest(int(ki), int(ni)).proportion_ci(0.9, method="exact")
        assert (lo, hi) == pytest.approx((expected.low, expected.high), abs=1e-9)
        # Clopper-Pearson: at the lower bound P(X >= k) = 5%, at the upper bound P(X <= k) = 5%.
        assert lo == 0.0 if ki == 0 else stats.binom.sf(ki - 1, ni, lo) == pytest.approx(0.05)
        assert hi == 1.0 if ki == ni else stats.binom.cdf(ki, ni, hi) == pytest.approx(0.05)
    assert (low[2], high[2]) == pytest.approx((0.4930987, 0.9632286), abs=1e-6)  # k = 8, n = 10


def test_nominal_inside_the_band_is_consistent_else_low_or_high():
    # 20 jump-offs at three horizons, 80% intervals: 16 inside (band 0.60-0.92), 9 (0.27-0.65), 20 (0.86-1).
    inside = np.array([16, 9, 20])
    covered = (np.arange(20)[:, None] < inside[None, :]).astype(float)
    covered = np.concatenate([covered, np.full((1, 3), np.nan)])  # a 21st jump-off, nothing registered
    cases = _cases(covered[None, :, :, None], ["births"], list(range(1990, 2032, 2)), [1, 2, 3], [0.8])
    table = coverage_table({"stochpop": cases})
    rows = table[(table["target"] == "births") & (table["first_horizon"] == table["last_horizon"])]
    assert rows["n"].tolist() == [20, 20, 20]
    assert rows["k"].tolist() == inside.tolist()
    assert rows["against_nominal"].tolist() == ["consistent", "low", "high"]
    for _, row in rows.iterrows():
        ci = stats.binomtest(int(row["k"]), 20).proportion_ci(0.9, method="exact")
        assert (row["band_low"], row["band_high"]) == pytest.approx((ci.low, ci.high))
        assert row["coverage"] == row["k"] / 20
    pooled = table[
        (table["target"] == "births") & (table["last_horizon"] == 3) & (table["first_horizon"] == 1)
    ]
    assert (int(pooled["n"].iloc[0]), int(pooled["k"].iloc[0])) == (60, 45)
    assert pooled["against_nominal"].iloc[0] == "consistent"  # 45/60: band 0.65-0.84


def test_counts_are_a_direct_count_of_the_cases():
    rng = np.random.default_rng(3)
    targets, jump_offs, horizons, levels = (
        ["births", "tfr"],
        [2000, 2002, 2004],
        list(range(1, 13)),
        [0.5, 0.8],
    )
    covered = (rng.random((2, 3, 12, 2)) < 0.7).astype(float)
    covered[:, 2, 9:, :] = np.nan  # the last jump-off has nothing registered from horizon 10 on
    covered[1, 0, 0, :] = np.nan
    cases = _cases(covered, targets, jump_offs, horizons, levels)
    baseline = _cases(covered[..., 1:], targets, jump_offs, horizons, [0.8])
    table = coverage_table({"stochpop": cases, "ssb-like": baseline}, max_horizon=10).set_index(
        ["method", "target", "first_horizon", "last_horizon", "level"]
    )
    assert table.index.is_unique

    def count(selection):
        values = covered[selection]
        return int(np.isfinite(values).sum()), int(np.nansum(values))

    for j, level in enumerate(levels):
        for i, target in enumerate(targets):
            for h in horizons:
                assert tuple(table.loc[("stochpop", target, h, h, level), ["n", "k"]]) == count(
                    (i, slice(None), h - 1, j)
                )
            assert tuple(table.loc[("stochpop", target, 1, 10, level), ["n", "k"]]) == count(
                (i, slice(None), slice(0, 10), j)
            )
        for h in horizons:
            assert tuple(table.loc[("stochpop", "all", h, h, level), ["n", "k"]]) == count(
                (slice(None), slice(None), h - 1, j)
            )
        assert tuple(table.loc[("stochpop", "all", 1, 10, level), ["n", "k"]]) == count(
            (slice(None), slice(None), slice(0, 10), j)
        )
    assert tuple(table.loc[("ssb-like", "tfr", 1, 10, 0.8), ["n", "k"]]) == count(
        (1, slice(None), slice(0, 10), 1)
    )
    assert table.loc[("stochpop", "births", 11, 11, 0.5), "n"] == 2
    np.testing.assert_allclose(table["coverage"], table["k"] / table["n"])
    assert set(table.reset_index()["method"]) == {"stochpop", "ssb-like"}


def test_coverage_figure_shades_a_band_per_level_and_target():
    covered = np.ones((2, 4, 3, 2))
    covered[0, :2, :, 0] = 0.0
    cases = _cases(covered, ["births", "tfr"], [2000, 2002, 2004, 2006], [1, 2, 3], [0.5, 0.8])
    figure = _coverage_figure(coverage_table({"stochpop": cases}), ["births", "tfr"])
    axes = figure.axes
    assert [ax.get_title() for ax in axes[:3]] == ["Births", "Total fertility rate", "All targets"]
    for ax in axes[:3]:
        bands = [c for c in ax.collections if c.get_paths()]
        assert len(bands) == 2  # one shaded band per level
        nominal = [line.get_ydata()[0] for line in ax.lines if line.get_linestyle() == ":"]
        assert nominal == [0.5, 0.8]
    lowest = axes[0].collections[0].get_paths()[0].vertices[:, 1].min()
    assert lowest == pytest.approx(coverage_band(np.array([2]), np.array([4]))[0][0])
    plt.close(figure)


def test_report_writes_a_coverage_table_that_agrees_with_pooled(tmp_path):
    rng = np.random.default_rng(5)
    coords = {"jump_off": [2000, 2005, 2010], "horizon": [1, 2, 3]}
    draws = rng.normal(100.0, 10.0, size=(3, 200, 3))
    forecast = xr.Dataset({"births": (("jump_off", "draw", "horizon"), draws)}, coords=coords)
    truth = rng.normal(100.0, 15.0, size=(3, 3))
    truth[2, 2] = np.nan
    registered = xr.Dataset({"births": (("jump_off", "horizon"), truth)}, coords=coords)
    lines = np.stack([np.full((3, 3), 90.0), np.full((3, 3), 100.0), np.full((3, 3), 110.0)], axis=1)
    baseline = xr.Dataset(
        {"births": (("jump_off", "line", "horizon"), lines)}, coords={**coords, "line": ["L", "M", "H"]}
    )
    cases = {
        "stochpop": sample_scores(forecast, registered, [0.5, 0.8]),
        "ssb-like": line_scores(baseline, registered, 0.8),
    }
    written = write_report(cases, forecast, baseline, registered, tmp_path)
    assert tmp_path / "tables" / "coverage.csv" in written
    assert tmp_path / "figures" / "coverage.png" in written
    coverage = pd.read_csv(tmp_path / "tables" / "coverage.csv")
    pooled = pd.read_csv(tmp_path / "tables" / "pooled.csv")
    by_horizon = coverage[
        (coverage["first_horizon"] == coverage["last_horizon"]) & (coverage["target"] == "births")
    ]
    merged = by_horizon.merge(
        pooled,
        left_on=["method", "target", "last_horizon", "level"],
        right_on=["method", "target", "horizon", "level"],
    )
    assert len(merged) == len(by_horizon) == 9  # 3 horizons x (2 stochpop levels + 1 baseline level)
    np.testing.assert_allclose(merged["coverage_x"], merged["coverage_y"])
    np.testing.assert_array_equal(merged["n_x"], merged["n_y"])
    calibration = pd.read_csv(tmp_path / "tables" / "calibration.csv").set_index(["target", "level"])
    over = coverage[
        (coverage["method"] == "stochpop")
        & (coverage["first_horizon"] == 1)
        & (coverage["last_horizon"] == 3)
    ]
    for _, row in over.iterrows():
        at = calibration.loc[(row["target"], row["level"])]
        assert (row["coverage"], row["n"]) == (pytest.approx(at["coverage"]), at["n"])
