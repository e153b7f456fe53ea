"""Quantile tables and variants against numpy.quantile; fan chart bands drawn where the quantiles are."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stochpop.plots import fan_chart, plt, pyramid
from stochpop.summary import intervals, quantiles, tidy, variants, write_table


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
    widths = [patch.get_width() for patch in ax.patches]
    assert min(widths) < 0 < max(widths)
    np.testing.assert_allclose(-np.array(widths[:106]), np.median(pop.sel(sex="male").values, axis=0))
    plt.close(fig)
