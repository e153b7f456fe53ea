"""The shifting level of net migration: its process against closed forms, the long-record estimator's
recovery (scales, the bias-corrected damping, the level scale's carry-over) and freedom from leakage, and
paths to 2100."""

import shutil
from pathlib import Path

import arviz as az
import jax
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from stochpop.components.migration import NetMigrationModel
from stochpop.components.migration.paths import level_shift_total_paths
from stochpop.components.migration.shocks import (
    DECADE,
    DECADE_ENDS,
    DECADE_TAIL,
    MAX_DAMPING,
    LevelShiftPrior,
    future_level_scale,
    learn_level_shift_prior,
    record_rates,
    unbiased_damping,
)
from stochpop.components.processes import (
    ar1_recursion,
    level_shift_log_likelihood,
    level_shift_paths,
    soft_bounds,
    soft_bounds_inverse,
)
from stochpop.components.randomness import path_keys

WORLD_FILES = ("migration", "births", "deaths", "tfr", "UNlocations")
LAST_YEAR = 1985
"""The last year of the long record the real-data tests learn from (one compilation for all of them)."""


@pytest.fixture(scope="module")
def world(shared_data: Path) -> Path:
    return shared_data / "wpp2024_world"


@pytest.fixture(scope="module")
def prior(world: Path) -> LevelShiftPrior:
    """The prior learnt from WPP's record up to `LAST_YEAR`."""
    return learn_level_shift_prior(record_rates(world, LAST_YEAR))


def test_forecast_mean_and_variance_match_the_closed_form() -> None:
    """E x_h = m + rho^h (L_0 - m) + phi^h d_0 and Var x_h = tau^2 (1 - rho^2h) / (1 - rho^2) +
    sigma^2 (1 - phi^2h) / (1 - phi^2), from 40 000 simulated paths (sampling sd of a variance ~0.7%)."""
    m, rho, tau, phi, sigma, level, deviation = 2.0, 0.9, 0.8, 0.4, 1.5, 6.0, -2.0
    n, steps = 40_000, 30
    k1, k2 = jax.random.split(jax.random.PRNGKey(1))
    u, e = jax.random.normal(k1, (steps, n)), jax.random.normal(k2, (steps, n))
    x = np.asarray(level_shift_paths(level, deviation, m, rho, tau, phi, sigma, u, e))
    h = np.arange(1, steps + 1)
    mean = m + rho**h * (level - m) + phi**h * deviation
    variance = tau**2 * (1 - rho ** (2 * h)) / (1 - rho**2) + sigma**2 * (1 - phi ** (2 * h)) / (1 - phi**2)
    assert np.all(np.abs(x.mean(1) - mean) < 4 * np.sqrt(variance / n))
    np.testing.assert_allclose(x.var(1), variance, rtol=0.04)


def test_kalman_likelihood_equals_the_multivariate_normal_density() -> None:
    """The Kalman filter's log likelihood equals the joint normal density with the autocovariance of a
    sum of two stationary AR(1)s, gamma(k) = s_L^2 rho^k + s_d^2 phi^k."""
    m, rho, tau, phi, sigma = 1.0, 0.95, 0.6, 0.3, 1.2
    x = np.random.default_rng(0).normal(1.0, 3.0, 30)
    lag = np.abs(np.subtract.outer(np.arange(30), np.arange(30)))
    cov = tau**2 / (1 - rho**2) * rho**lag + sigma**2 / (1 - phi**2) * phi**lag
    expected = stats.multivariate_normal(np.full(30, m), cov).logpdf(x)
    with jax.enable_x64(True):
        got = float(level_shift_log_likelihood(x, m, rho, tau, phi, sigma))
    assert got == pytest.approx(expected, rel=1e-9)


def _simulated_record(
    tau: float | np.ndarray,
    sigma: float,
    rho: float,
    phi: float,
    seed: int,
    countries: int = 40,
    years: int = 70,
) -> xr.DataArray:
    """Rates (country, year) from the model, each level and deviation started from its stationary law
    (the level's at the first year's scale); country means m_c ~ Normal(0.5, 2). tau: a scalar or the level
    scale of each year and country (years, countries)."""
    rng = np.random.default_rng(seed)
    taus = np.broadcast_to(tau, (years, countries))
    m = rng.normal(0.5, 2.0, countries)
    level = m + taus[0] / np.sqrt(1 - rho**2) * rng.standard_normal(countries)
    deviation = sigma / np.sqrt(1 - phi**2) * rng.standard_normal(countries)
    u, e = rng.standard_normal((2, years - 1, countries))
    levels = ar1_recursion(level, m, rho, 1.0, taus[1:] * u)
    deviations = ar1_recursion(deviation, 0.0, phi, sigma, e)
    x = np.concatenate([(level + deviation)[None], np.asarray(levels + deviations)]).T
    return xr.DataArray(x, dims=("country", "year"), coords={"year": np.arange(1950, 1950 + years)})


def test_long_record_estimator_recovers_the_level_shift_scale() -> None:
    """From a panel simulated with tau = 1, sigma = 0.8, rho = 0.9, phi = 0.3: tau's median within 20%,
    sigma's within 20%, rho within 0.05."""
    prior = learn_level_shift_prior(_simulated_record(1.0, 0.8, 0.9, 0.3, seed=3))
    assert prior.level_scale_median == pytest.approx(1.0, rel=0.2)
    assert prior.shock_scale_median == pytest.approx(0.8, rel=0.2)
    assert prior.damping == pytest.approx(0.9, abs=0.05)
    assert prior.countries == 40 and (prior.first_year, prior.last_year) == (1950, 2019)


@pytest.mark.parametrize("seed", [1, 2])
def test_corrected_damping_is_unbiased_where_the_estimate_is_not(seed: int) -> None:
    """Panels of the record's shape (42 countries x 74 years) with rho = 0.95, tau = 0.8, sigma = 1,
    phi = 0.3: the learnt damping within 0.02 of 0.95 (uncorrected, the estimator returns about 0.90: its
    bias is -(1 + 3 rho) / n = -0.052); a damping corrected past the cap takes the cap."""
    prior = learn_level_shift_prior(_simulated_record(0.8, 1.0, 0.95, 0.3, seed, countries=42, years=74))
    assert prior.damping == pytest.approx(0.95, abs=0.02)
    assert unbiased_damping(0.99, 74) == MAX_DAMPING


def test_scale_carryover_recovers_how_far_a_countrys_level_scale_persists() -> None:
    """60 countries x 80 years whose level scale changes at mid-record, log tau_2 = 0.6 log tau_1 + 0.5 z
    (log tau_1 ~ Normal(0, 0.8)): the learnt carry-over within 0.2 of 0.6 (estimation noise attenuates it)
    and the change sd between 0.45 and 0.95 (the noise inflates it: 0.76 here)."""
    rng = np.random.default_rng(5)
    early = 0.8 * rng.standard_normal(60)
    late = 0.6 * early + 0.5 * rng.standard_normal(60)
    tau = np.exp(np.repeat(np.stack([early, late]), 40, axis=0))
    prior = learn_level_shift_prior(_simulated_record(tau, 0.8, 0.9, 0.3, seed=6, countries=60, years=80))
    assert prior.scale_carryover == pytest.approx(0.6, abs=0.2)
    assert 0.45 < prior.scale_change_sd < 0.95


def test_future_level_scale_regresses_to_the_record_and_spreads() -> None:
    """log tau_future has mean l + b (log tau - l) and sd s over normal z (l = log median)."""
    z = np.random.default_rng(0).standard_normal(100_000)
    future = np.log(future_level_scale(np.full(z.size, 8.0), 2.0, 0.5, 0.7, z))
    assert future.mean() == pytest.approx(np.log(2.0) + 0.5 * np.log(4.0), abs=0.01)
    assert future.std() == pytest.approx(0.7, rel=0.01)


def _world_copy(source: Path, target: Path, corrupt_from: int) -> Path:
    """WPP's world files copied to `target`, every year >= `corrupt_from` of the yearly files multiplied
    by 7 (UNlocations unchanged)."""
    target.mkdir()
    for name in WORLD_FILES:
        shutil.copy(source / f"{name}.txt", target / f"{name}.txt")
        if name == "UNlocations":
            continue
        table = pd.read_csv(target / f"{name}.txt", sep="\t", dtype=str, keep_default_na=False)
        later = [c for c in table.columns if c.isdigit() and int(c) >= corrupt_from]
        table[later] = table[later].apply(pd.to_numeric) * 7
        table.to_csv(target / f"{name}.txt", sep="\t", index=False)
    return target


def test_prior_at_last_year_ignores_every_later_year(
    world: Path, prior: LevelShiftPrior, tmp_path: Path
) -> None:
    """The prior learnt up to 1985 is identical when every WPP value of 1986-2023 is corrupted, and the
    record differs when 1985 itself is (the check can fail)."""
    later = learn_level_shift_prior(
        record_rates(_world_copy(world, tmp_path / "later", LAST_YEAR + 1), LAST_YEAR)
    )
    assert later == prior
    same_year = record_rates(_world_copy(world, tmp_path / "same", LAST_YEAR), LAST_YEAR)
    assert not np.allclose(same_year.values, record_rates(world, LAST_YEAR).values)


def test_paths_to_2100_stay_finite_and_stop_widening(prior: LevelShiftPrior) -> None:
    """5000 paths of 76 years from parameters drawn from the learnt prior (per 1000, a central 10% draw
    of each scale, the level's carried into the future by `future_level_scale`), started 5 per 1000 above
    the long-run mean: finite; the 2.5-97.5% width in year 76 within 10% of year 50 (the damped level has
    reached its stationary spread) and inside +-25 per 1000."""
    n = 5000
    rng = np.random.default_rng(0)
    tau = prior.level_scale_median * np.exp(prior.level_scale_log_sd * rng.uniform(-0.1, 0.1, n))
    future_tau = future_level_scale(
        tau, prior.level_scale_median, prior.scale_carryover, prior.scale_change_sd, rng.standard_normal(n)
    )
    sigma = prior.shock_scale_median * np.exp(prior.shock_scale_log_sd * rng.uniform(-0.1, 0.1, n))
    m = np.full(n, prior.long_run_mean)
    total = level_shift_total_paths(
        path_keys(jax.random.PRNGKey(0), n),
        m + 5.0,
        np.zeros(n),
        np.full(n, prior.damping),
        future_tau,
        m,
        np.full(n, prior.persistence),
        sigma,
        np.full(n, 5.0),
        np.arange(76),
    )
    assert np.isfinite(total).all()
    width = np.diff(np.percentile(total, [2.5, 97.5], axis=0), axis=0)[0]
    assert width[-1] == pytest.approx(width[49], rel=0.1)
    assert np.abs(np.percentile(total[:, -1], [2.5, 97.5]) - prior.long_run_mean).max() < 25.0


BOUNDS = np.array([-30.0, -15.0, 8.0, 11.0])
"""Bounds of a level (per 1000) near the record's: extremes -30 and 11, inner quantiles -15 and 8."""


def _bent(x: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """`soft_bounds` written out case by case."""
    lowest, low, high, highest = bounds
    out = np.array(x, dtype=float)
    for i, v in np.ndenumerate(out):
        if v > high:
            out[i] = high + (highest - high) * np.tanh((v - high) / (highest - high))
        elif v < low:
            out[i] = low - (low - lowest) * np.tanh((low - v) / (low - lowest))
    return out


def test_soft_bounds_keep_the_inside_bend_beyond_and_invert() -> None:
    """Against the case-by-case formula: unchanged inside the inner bounds, strictly inside the outer ones
    for values up to 30 beyond them (at 1e6 out, where tanh rounds to 1, on them), slope 1 just past the
    inner bounds, and the inverse returning every value short of saturation (up to 20)."""
    x = np.concatenate([np.linspace(-60.0, 40.0, 2001), [-1e6, 1e6]])
    with jax.enable_x64(True):
        bent = np.asarray(soft_bounds(x, BOUNDS))
        back = np.asarray(soft_bounds_inverse(bent[:-2], BOUNDS))  # tanh below 1 - 1e-6 up to x = 20
        step = 1e-6
        slopes = [
            (np.asarray(soft_bounds(np.array([b + step]), BOUNDS)) - b)[0] / step for b in BOUNDS[1:3]
        ] + [(b - np.asarray(soft_bounds(np.array([b - step]), BOUNDS)))[0] / step for b in BOUNDS[1:3]]
    np.testing.assert_allclose(bent, _bent(x, BOUNDS), rtol=1e-12, atol=1e-12)
    inside = (x >= BOUNDS[1]) & (x <= BOUNDS[2])
    np.testing.assert_array_equal(bent[inside], x[inside])
    assert np.all((bent[:-2] > BOUNDS[0]) & (bent[:-2] < BOUNDS[3]))
    np.testing.assert_array_equal(bent[-2:], BOUNDS[[0, 3]])  # where tanh rounds to 1
    np.testing.assert_allclose(slopes, 1.0, atol=1e-5)
    kept = x[:-2] <= 20.0
    np.testing.assert_allclose(back[kept], x[:-2][kept], rtol=1e-8, atol=1e-8)
    assert np.isfinite(np.asarray(soft_bounds_inverse(np.array([-40.0, 20.0]), BOUNDS))).all()


def test_bounded_level_is_the_bent_latent_recursion() -> None:
    """With bounds, the totals equal a NumPy loop: the level's AR(1) run from the latent start and centre
    (the inverse of the bends) and bent case by case, plus the deviations' AR(1); far-off bounds give the
    unbounded paths; and a level with shocks of 20 per 1000 a year never passes the outer bounds."""
    rng = np.random.default_rng(5)
    steps, n = 40, 300
    level, deviation, m, rho, phi, sigma = 6.0, 1.0, 2.0, 0.97, 0.5, 1.5
    tau = rng.uniform(0.5, 3.0, n)
    u, e = rng.standard_normal((steps, n)), rng.standard_normal((steps, n))
    with jax.enable_x64(True):
        bounded = np.asarray(level_shift_paths(level, deviation, m, rho, tau, phi, sigma, u, e, BOUNDS))
        start, centre = (np.asarray(soft_bounds_inverse(np.array([v]), BOUNDS))[0] for v in (level, m))
        free = np.asarray(level_shift_paths(level, deviation, m, rho, tau, phi, sigma, u, e))
        far = np.asarray(level_shift_paths(level, deviation, m, rho, tau, phi, sigma, u, e, BOUNDS * 1e3))
        wild = np.asarray(level_shift_paths(level, 0.0, m, rho, 20.0, phi, 0.0, u, e, BOUNDS))
    latent, d = np.full(n, start), np.full(n, deviation)
    expected = []
    for t in range(steps):
        latent = centre + rho * (latent - centre) + tau * u[t]
        d = phi * d + sigma * e[t]
        expected.append(_bent(latent, BOUNDS) + d)
    np.testing.assert_allclose(bounded, np.asarray(expected), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(far, free, rtol=1e-10, atol=1e-10)
    assert np.all((wild >= BOUNDS[0]) & (wild <= BOUNDS[3])) and wild.max() > BOUNDS[2]


def test_decade_bounds_are_the_records_ten_year_means(prior: LevelShiftPrior, world: Path) -> None:
    """The prior's bounds equal the extremes and tail quantiles of every country's 10-year rolling means
    of the record computed with pandas; on the record to 1985 they are ordered and bracket zero."""
    rates = record_rates(world, LAST_YEAR).transpose("country", "year").to_pandas()
    means = rates.T.rolling(DECADE).mean().stack().dropna().to_numpy()
    expected = [means.min(), *np.quantile(means, [DECADE_TAIL, 1 - DECADE_TAIL]), means.max()]
    found = [prior.decade_lowest, prior.decade_low, prior.decade_high, prior.decade_highest]
    np.testing.assert_allclose(found, expected, rtol=1e-12)
    assert found == sorted(found) and found[1] < 0.0 < found[2]


def _shifting_fit(level_scale: float, change_sd: float = 0.0) -> az.InferenceData:
    """A hand-made shifting net migration fit (one chain of four equal draws) of a population of 5 million
    (unit 5 thousand per 1 per 1000), fitted to 2023, level and total 20 thousand (4 per 1000), deviations
    with a tiny scale, the level's `level_scale` per 1000 (carried into the future whole, spread by
    `change_sd`) and `BOUNDS` as the record's."""
    unit, ages = 5.0, np.arange(3)

    def draws(value: float | np.ndarray, *dims: str) -> tuple:
        return (("chain", "draw", *dims), np.broadcast_to(value, (1, 4, *np.shape(value))))

    posterior = xr.Dataset(
        {
            "long_run_mean": draws(2.0 * unit),
            "persistence": draws(0.5),
            "shock_scale": draws(1e-6),
            "shock_df": draws(10.0),
            "level_scale": draws(level_scale * unit),
            "schedule": draws(np.full((2, 3), 1 / 6), "sex", "age"),
            "level": draws(np.full(3, 4.0 * unit), "year"),
        },
        coords={"age": ages, "year": [2021, 2022, 2023]},
    )
    prior = {
        "damping": 0.97,
        "level_scale_median": level_scale,
        "scale_carryover": 1.0,
        "scale_change_sd": change_sd,
        **dict(zip([f"decade_{end}" for end in DECADE_ENDS], BOUNDS, strict=True)),
    }
    constant = {
        "total": ("year", [20.0, 20.0, 20.0]),
        "last_year": 2023,
        "population": 5e6,
        "unit": unit,
        **{f"prior_{name}": value for name, value in prior.items()},
    }
    return az.InferenceData(
        posterior=posterior, constant_data=xr.Dataset(constant, coords={"year": [2021, 2022, 2023]})
    )


def test_record_bounds_reach_the_forecast_totals() -> None:
    """`NetMigrationModel(bounds="record")` bends the forecast's level into the fit's record bounds: with
    a level scale of 3 per 1000 a year, 500 paths' totals to 2100 (per 1000: total / unit / 1000) stay
    inside the outer bounds and pass the inner ones, where unbounded they leave the outer ones;
    with start and long-run mean inside, each is its unbounded path bent case by case."""
    fit = _shifting_fit(3.0)
    years, key = np.arange(2024, 2101), jax.random.PRNGKey(4)

    def per_thousand(bounds: str) -> np.ndarray:
        model = NetMigrationModel(level="shifting", bounds=bounds)
        return np.asarray(model.drivers(fit, years, 500, key).series["total_net"]) / 5.0 / 1000.0

    bounded, free = per_thousand("record"), per_thousand("none")
    assert np.all((bounded >= BOUNDS[0] - 1e-4) & (bounded <= BOUNDS[3] + 1e-4))  # float32 rounding
    assert bounded.max() > BOUNDS[2] and bounded.min() < BOUNDS[1]
    assert free.max() > BOUNDS[3] and free.min() < BOUNDS[0]
    np.testing.assert_allclose(bounded, _bent(free, BOUNDS), atol=1e-3)  # start and centre inside
    with pytest.raises(ValueError, match="needs level 'shifting'"):
        NetMigrationModel(bounds="record")


def test_rms_future_scale_is_the_laws_root_mean_square() -> None:
    """future_scale "rms": every path's level scale is exp(log tau + s^2), so the first forecast year's
    totals (level 4 per 1000, tiny deviations) have sd tau exp(s^2) (tau 1, s 0.5: 1.284; 20 000 paths,
    within 3%) and normal tails (kurtosis 3 +- 0.2), where drawn scales give the same variance (within 5%)
    and heavy tails (kurtosis above 4)."""
    fit, key = _shifting_fit(1.0, change_sd=0.5), jax.random.PRNGKey(9)

    def first_year(future_scale: str) -> np.ndarray:
        model = NetMigrationModel(level="shifting", future_scale=future_scale)
        return np.asarray(model.drivers(fit, [2024], 20_000, key).series["total_net"])[:, 0] / 5000.0

    rms, drawn = first_year("rms"), first_year("drawn")
    assert rms.std() == pytest.approx(np.exp(0.25), rel=0.03)
    assert drawn.std() == pytest.approx(np.exp(0.25), rel=0.05)
    assert stats.kurtosis(rms, fisher=False) == pytest.approx(3.0, abs=0.2)
    assert stats.kurtosis(drawn, fisher=False) > 4.0


def test_a_rate_total_needs_the_reference_stock() -> None:
    """total "rate" spreads outflows by the fit's population by sex and age: a fit without it (made before
    it was stored) and a fit given only a number are each refused with one clear error."""
    with pytest.raises(ValueError, match="has no reference_stock"):
        NetMigrationModel(level="shifting", total="rate").drivers(
            _shifting_fit(1.0), [2024], 4, jax.random.PRNGKey(0)
        )
    observed = xr.DataArray(np.zeros((5, 2, 3)), dims=("year", "sex", "age"), coords={"year": np.arange(5)})
    with pytest.raises(ValueError, match="needs the reference population by sex and age"):
        NetMigrationModel(total="rate").fit_observed(observed, 5e6)
