"""How drifts move (`world_drift`): the departure variance against simulation, the fit's recovery on a
simulated world and its leakage guard, the departure paths' law and floor, the e0 sensitivity against a
finite difference, and the fit on WPP's record."""

from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr
from scipy.signal import lfilter

from stochpop.components.mortality.forecast import e0_sensitivity, mortality_values
from stochpop.components.mortality.parameters import product_ratio_log_rates
from stochpop.components.mortality.world_drift import (
    HORIZONS,
    ROBUST_SD_RANGE,
    DriftVariation,
    departure_variance,
    drift_departures,
    e0_departures,
    fit_drift_variation,
    read_world_e0,
)
from stochpop.components.randomness import path_keys
from stochpop.data.wpp import WORLD_FOLDER

TRUTH = DriftVariation(noise_sd=0.2, sd=0.12, persistence=0.85, last_year=2023, countries=400)


def simulated_world(truth: DriftVariation, n_countries: int, seed: int) -> xr.DataArray:
    """e0 (country, year 1950-2023) whose yearly gains are 0.25 + an AR(1) (scipy's lfilter, started
    stationary) + white noise, all from 75: every country-year is above the threshold."""
    rng = np.random.default_rng(seed)
    years = np.arange(1950, 2024)
    innovations = (
        truth.sd * np.sqrt(1 - truth.persistence**2) * rng.standard_normal((n_countries, years.size))
    )
    innovations[:, 0] = truth.sd * rng.standard_normal(n_countries)
    delta = lfilter([1.0], [1.0, -truth.persistence], innovations, axis=1)
    gains = 0.25 + delta + truth.noise_sd * rng.standard_normal(delta.shape)
    return xr.DataArray(
        75 + np.cumsum(gains, axis=1),
        {
            "country": np.arange(n_countries),
            "year": years,
            "name": ("country", [f"c{i}" for i in range(n_countries)]),
        },
        ("country", "year"),
    )


def test_departure_variance_matches_simulated_departures():
    e0 = simulated_world(TRUTH, 400, seed=0)
    for horizon in (1, 5, 10, 20):
        departures = e0_departures(e0, horizon, 2023, threshold=73.0).values
        simulated = np.nanvar(departures)
        expected = departure_variance(TRUTH.noise_sd, TRUTH.sd, TRUTH.persistence, horizon)
        n = np.isfinite(departures).sum() / 10  # overlapping windows: far fewer independent cases
        assert simulated == pytest.approx(expected, rel=4 * np.sqrt(2 / n))


def test_fit_recovers_the_simulated_variation():
    fitted = fit_drift_variation(simulated_world(TRUTH, 400, seed=1), 2023)
    assert fitted.noise_sd == pytest.approx(TRUTH.noise_sd, rel=0.15)
    assert fitted.sd == pytest.approx(TRUTH.sd, rel=0.25)
    assert fitted.persistence == pytest.approx(TRUTH.persistence, abs=0.08)
    assert fitted.countries == 400 and fitted.last_year == 2023


def test_fit_reads_nothing_after_its_last_year_and_leaves_out_excluded_countries():
    e0 = simulated_world(TRUTH, 200, seed=2)
    fitted = fit_drift_variation(e0, 2010, exclude=[0])
    later = e0.where(e0["year"] <= 2010, 0.0)  # anything after 2010 destroyed
    changed = later.where(later["country"] != 0, 50.0)  # the excluded country destroyed
    assert fit_drift_variation(changed, 2010, exclude=[0]) == fitted
    assert fitted.countries == 199
    assert fit_drift_variation(e0, 2010) != fitted


def test_fit_rejects_a_record_too_short():
    e0 = simulated_world(TRUTH, 1, seed=3)  # one country: under 100 departures at every horizon
    with pytest.raises(ValueError, match="horizons with 100 departures"):
        fit_drift_variation(e0, 2023)


def test_departure_paths_have_the_drift_part_of_the_variance_and_respect_the_floor():
    window, horizon, n = 25, 12, 20_000
    keys = path_keys(jax.random.PRNGKey(0), n)
    with jax.enable_x64(True):
        paths = np.asarray(drift_departures(TRUTH, window, horizon, keys))
        gain = np.linspace(0.0, 0.3, n)
        floored = np.asarray(drift_departures(TRUTH, window, horizon, keys, jax.numpy.asarray(gain)))
    for h in (1, 6, 12):
        expected = departure_variance(0.0, TRUTH.sd, TRUTH.persistence, h, window)
        assert paths[:, h - 1].var() == pytest.approx(expected, rel=0.05)
        assert abs(paths[:, h - 1].mean()) < 4 * np.sqrt(expected / n)
    steps = np.diff(floored, axis=1, prepend=0.0)
    assert (steps >= -gain[:, None] - 1e-12).all()
    unclipped = np.diff(paths, axis=1, prepend=0.0) >= -gain[:, None]
    np.testing.assert_allclose(steps[unclipped], np.diff(paths, axis=1, prepend=0.0)[unclipped])


AGES = np.arange(101)
SENSITIVITY_PARAMS = {
    "a_p": np.stack([-9.0 + 0.085 * AGES, -9.2 + 0.087 * AGES]),
    "b_p": np.stack([np.stack([np.ones(101), np.linspace(-1, 1, 101)])] * 2),
    "k_p": np.array([[[0.5, 0.1], [0.0, 0.2]], [[0.3, -0.4], [0.1, 0.0]]]),
    "a_r": np.zeros((2, 101)) + 0.2,
    "b_r": np.ones((2, 1, 101)),
    "k_r": np.array([[[0.0, 0.1]], [[0.0, -0.1]]]),
}
"""Natural parameters of two draws of a coherent model with two product components."""


def test_a_chunk_of_paths_after_the_first_compiles_nothing():
    """Each chunk of a run samples its departures and sensitivities outside any jit: compiled once per
    shape, not once per call (an eager scan over a fresh closure recompiled, and kept, every chunk)."""
    sizes = []
    for seed in range(3):  # three chunks of the same shape
        drift_departures(TRUTH, 25, 12, path_keys(jax.random.PRNGKey(seed), 8))
        e0_sensitivity(SENSITIVITY_PARAMS, np.full((2, 2, 101), 0.01 * seed))
        sizes.append((drift_departures._cache_size(), e0_sensitivity._cache_size()))
    assert sizes[0] == sizes[1] == sizes[2]


def test_e0_sensitivity_matches_a_finite_difference():
    params = SENSITIVITY_PARAMS
    offset = np.zeros((2, 2, 101))
    with jax.enable_x64(True):
        sensitivity = np.asarray(e0_sensitivity({k: jax.numpy.asarray(v) for k, v in params.items()}, offset))

        def e0_at(shift: float) -> np.ndarray:
            k_p = params["k_p"][..., -1:].copy()
            k_p[:, 0] += shift
            log_m = product_ratio_log_rates(
                params["a_p"], params["b_p"], k_p, params["a_r"], params["b_r"], params["k_r"][..., -1:]
            )
            return np.asarray(mortality_values(log_m[:, 0]).e0).mean(-1)

        step = 1e-5
        finite = (e0_at(step) - e0_at(-step)) / (2 * step)
    np.testing.assert_allclose(sensitivity, finite, rtol=1e-5)
    assert (sensitivity < 0).all()


@pytest.fixture(scope="module")
def world_e0(shared_data: Path) -> xr.DataArray:
    return read_world_e0(shared_data / WORLD_FOLDER)


def test_world_fit_reproduces_the_spread_at_every_horizon(world_e0):
    """Fitted on WPP to 2017 without Norway, the model's departure sd is within 6% of the world's robust
    sd at each horizon 1-20, and the drift part is a real share (not all noise)."""
    fitted = fit_drift_variation(world_e0, 2017, exclude=[578])
    others = world_e0.sel(country=world_e0["country"] != 578)
    for horizon in HORIZONS:
        low, high = np.nanquantile(e0_departures(others, horizon, 2017, 73.0).values, [0.1, 0.9])
        model = np.sqrt(departure_variance(fitted.noise_sd, fitted.sd, fitted.persistence, horizon))
        assert model == pytest.approx((high - low) / ROBUST_SD_RANGE, rel=0.06)
    drift_part = departure_variance(0.0, fitted.sd, fitted.persistence, 10)
    assert drift_part > 0.5 * departure_variance(fitted.noise_sd, fitted.sd, fitted.persistence, 10)
    assert 0.3 < fitted.persistence < 1 and fitted.countries > 100
