"""Lexis conversions against hand calculations."""

import numpy as np
import pytest
import xarray as xr

from stochpop.conventions import INFANT_DEATHS_LOWER_SHARE as L0
from stochpop.demography.lexis import exposure_lower_share, squares_to_parallelograms


def squares(values):
    return xr.DataArray(np.asarray(values, float), dims="age", coords={"age": np.arange(len(values))})


def test_counts_with_open_age_by_hand():
    d = squares([10.0, 4.0, 6.0, 8.0])  # age 3 open
    out = squares_to_parallelograms(d, open_age=True).values
    expected = [L0 * 10, (1 - L0) * 10 + 0.5 * 4, 0.5 * 4 + 0.5 * 6, 0.5 * 6 + 8]
    np.testing.assert_allclose(out, expected)
    assert out.sum() == pytest.approx(d.sum())


def test_rates_average_neighbouring_ages_by_hand():
    m = squares([0.002, 0.0004, 0.0002])
    out = squares_to_parallelograms(m, open_age=False).values
    np.testing.assert_allclose(
        out, [L0 * 0.002, (1 - L0) * 0.002 + 0.5 * 0.0004, 0.5 * 0.0004 + 0.5 * 0.0002]
    )


def test_exposure_shares_follow_cohort_sizes():
    pop = xr.DataArray(
        np.array([[100.0, 300.0, 0.0], [120.0, 100.0, 0.0]]),
        dims=("year", "age"),
        coords={"year": [2000, 2001], "age": [0, 1, 2]},
    )
    share = exposure_lower_share(pop)
    np.testing.assert_allclose(share.sel(year=2000).values, [L0, 100 / 400, 0.5])
    deaths = squares([10.0, 8.0, 0.0]).expand_dims(year=[2000])
    out = squares_to_parallelograms(deaths, open_age=True, lower_share=share).sel(year=2000).values
    np.testing.assert_allclose(out, [L0 * 10, (1 - L0) * 10 + 0.25 * 8, 0.75 * 8])
