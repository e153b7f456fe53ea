"""Quantile tables and variants against numpy.quantile; fan chart bands drawn where the quantiles are."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stochpop.outputs.charts import fan_chart, plt, pyramid
from stochpop.outputs.quantiles import draw_quantiles, intervals, quantiles, tidy, variants, write_table


@pytest.fixture(scope="module")
def paths():
    rng = np.random.default_rng(0)
    draws = rng.lognormal(size=(500, 6, 2)).cumsum(axis=1)
    return xr.Dataset(
        {"population": (("draw", "year", "sex"), draws), "births": (("draw", "event_year"), draws[:, :5, 0])},
        coords={
            "year": np.arange(2025, 2031),
            "event_year": np.arange(2025, 2030),
            "sex": ["female", "male"],
        },
    )


def test_quantiles_and_variants_equal_numpy(paths):
    q = quantiles(paths, (0.025, 0.5, 0.975))
    expected = np.quantile(paths["population"].values, [0.025, 0.5, 0.975], axis=0)
    np.testing.assert_allclose(q["population"].transpose("quantile", "year", "sex"), expected)
    v = variants(paths, {"L": 0.2, "M": 0.5, "H": 0.8})
    np.testing.assert_allclose(v["births"].sel(variant="L"), np.quantile(paths["births"].values, 0.2, axis=0))
    assert list(v["variant"].values) == ["L", "M", "H"]
    i = intervals(paths, (0.8,))
    np.testing.assert_allclose(
        i["births"].sel(bound="upper", level=0.8), np.quantile(paths["births"].values, 0.9, axis=0)
    )


def test_draw_quantiles_equal_numpy_bit_for_bit():
    """Counting-based order statistics give numpy.quantile exactly: random sizes and dtypes, ties, constant
    rows, skewed rows, the extreme quantiles; non-finite values go to numpy."""
    rng = np.random.default_rng(7)
    for trial in range(400):
        n, rows = int(rng.integers(1, 3000)), int(rng.integers(1, 6))
        values = rng.gamma(2.0, 100.0, size=(rows, n)).astype(rng.choice([np.float32, np.float64]))
        if trial % 4 == 0:
            values = np.round(values / 50)  # many ties
        if trial % 7 == 0:
            values[0] = 3.0  # a constant row
        if trial % 9 == 0 and n > 10:
            values[-1, : n - 3] = 1.0  # nearly all equal, three far above
            values[-1, n - 3 :] = 1e6
        q = np.sort(rng.uniform(0, 1, int(rng.integers(1, 7))))
        if trial % 5 == 0:
            q = np.array([0.0, 0.025, 0.5, 1.0])
        np.testing.assert_array_equal(draw_quantiles(values, q), np.quantile(values, q, axis=-1))
        draws_first = np.ascontiguousarray(values.T)
        np.testing.assert_array_equal(draw_quantiles(draws_first, q, axis=0), np.quantile(values, q, axis=-1))
    with_nan = rng.normal(size=(3, 50))
    with_nan[1, 4] = np.nan
    np.testing.assert_array_equal(draw_quantiles(with_nan, [0.5]), np.quantile(with_nan, [0.5], axis=-1))


def test_draw_quantiles_of_tiny_spreads_and_a_middle_axis():
    """Spreads too small for a float32 bucket scale (denormals) still give numpy's quantiles; a draw axis
    neither first nor last is refused rather than read as the last."""
    tiny = np.array([[0.0, 1e-40, 3e-41, 2e-45] * 25, np.linspace(0, 1, 100)], dtype=np.float32)
    q = [0.1, 0.5, 0.975]
    np.testing.assert_array_equal(draw_quantiles(tiny, q), np.quantile(tiny, q, axis=-1))
    with pytest.raises(ValueError, match="axis 1 of 3"):
        draw_quantiles(np.zeros((2, 3, 4)), q, axis=1)


def test_quantiles_read_the_draw_axis_where_it_lies(paths):
    for dims in (("draw", "year", "sex"), ("year", "sex", "draw"), ("year", "draw", "sex")):
        table = quantiles(paths["population"].transpose(*dims), (0.1, 0.9))
        expected = np.quantile(paths["population"].values, [0.1, 0.9], axis=0)
        np.testing.assert_array_equal(table["population"].transpose("quantile", "year", "sex"), expected)


def test_tidy_tables_round_trip(paths, tmp_path):
    table = tidy(quantiles(paths))
    assert set(table.columns) == {"variable", "year", "event_year", "sex", "quantile", "value"}
    births = table[table["variable"] == "births"]
    assert len(births) == 5 * 5 and births["sex"].isna().all()
    written = write_table(table, tmp_path / "quantiles")
    for path in written:
        back = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
        np.testing.assert_allclose(back["value"], table["value"])


def test_fan_chart_bands_sit_at_the_quantiles(paths):
    fig, ax = plt.subplots()
    series = paths["population"].sel(sex="female")
    fan_chart(ax, series, bands=(0.8,))
    band = ax.collections[0].get_paths()[0].vertices
    low, high = np.quantile(series.values, [0.1, 0.9], axis=0)
    # fill_between's polygon runs along the lower edge and back along the upper edge.
    for year, lo, hi in zip(series["year"].values, low, high, strict=True):
        at_year = band[np.isclose(band[:, 0], year), 1]
        assert np.isclose(at_year, lo).any() and np.isclose(at_year, hi).any()
    median_line = ax.lines[0].get_ydata()
    np.testing.assert_allclose(median_line, np.median(series.values, axis=0))
    plt.close(fig)


def test_pyramid_puts_men_left():
    rng = np.random.default_rng(1)
    pop = xr.DataArray(
        rng.uniform(100, 200, size=(50, 2, 106)),
        dims=("draw", "sex", "age"),
        coords={"sex": ["female", "male"], "age": np.arange(106)},
    )
    fig, ax = plt.subplots()
    pyramid(ax, pop)
    lines = [p.get_data() for p in ax.patches if not p.get_fill()]  # the medians: men, then women
    np.testing.assert_allclose(-lines[0].values, np.median(pop.sel(sex="male").values, axis=0))
    np.testing.assert_allclose(lines[1].values, np.median(pop.sel(sex="female").values, axis=0))
    widest = ax.patches[1].get_data()  # men's 95% envelope (after the median bars), left of zero
    np.testing.assert_allclose(-widest.baseline, np.quantile(pop.sel(sex="male").values, 0.025, axis=0))
    np.testing.assert_allclose(-widest.values, np.quantile(pop.sel(sex="male").values, 0.975, axis=0))
    plt.close(fig)
