"""Norway's counties: level factors (synthetic recovery, registered totals reproduced, each path's draws),
national rates on the county basis against HMD, and the replay 2006 -> 2024 through the kernel with
estimated observed rates."""

from pathlib import Path

import arviz as az
import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.settings import FitSettings
from stochpop.data.norway import load_country
from stochpop.regions.estimated_rates import regional_account
from stochpop.regions.levels import (
    Observations,
    factor_draws,
    factor_summary,
    fit_levels,
    observed_factors,
)
from stochpop.regions.net_replay import replay_net
from stochpop.regions.norway_counties import CountyInputs, county_inputs

SMALL_FIT = FitSettings(warmup=500, samples=800, target_accept=0.98)
MEAN_FIT = FitSettings(warmup=300, samples=200, target_accept=0.98)
"""For the replay, which takes the posterior means alone (400 draws: their Monte Carlo error is far below
the factors' posterior sd)."""


def _synthetic(seed: int = 1) -> tuple[xr.DataArray, np.ndarray, Observations]:
    """Six regions over 12 years (the last without data): true log factors (year, region) from the
    model's process, expected events about 3 000, Poisson counts; regions 4 and 5 one unit after year 8."""
    rng = np.random.default_rng(seed)
    years, regions = 12, 6
    level = rng.normal(0.0, 0.08, regions)
    eta = np.zeros((years, regions))
    eta[0] = rng.normal(0.0, 0.03, regions)
    for t in range(1, years):
        eta[t] = 0.8 * eta[t - 1] + rng.normal(0.0, 0.03 * np.sqrt(1 - 0.8**2), regions)
    truth = level + eta
    expected = xr.DataArray(
        rng.uniform(1500, 4500, (years, regions)),
        dims=("year", "region"),
        coords={"year": np.arange(2000, 2000 + years), "region": [f"r{i}" for i in range(regions)]},
    )
    rows = []
    for t in range(years - 1):
        units = [[r] for r in range(regions)] if t < 8 else [[0], [1], [2], [3], [4, 5]]
        for unit in units:
            member = np.isin(np.arange(regions), unit).astype(float)
            mean = float(np.sum(member * np.exp(truth[t]) * expected.values[t]))
            rows.append((float(rng.poisson(mean)), t, member, 1.0))
    total, year, member, ratio = zip(*rows, strict=True)
    return expected, truth, Observations(np.array(total), np.array(year), np.stack(member), np.array(ratio))


def test_observed_factors_reproduce_every_registered_total() -> None:
    expected, _, obs = _synthetic()
    guess = xr.ones_like(expected) * np.linspace(0.9, 1.1, expected.sizes["region"])
    factors = observed_factors(obs, expected, guess)
    for total, year, member, ratio in zip(*obs, strict=True):
        assert ratio * np.sum(member * factors.values[year] * expected.values[year]) == pytest.approx(total)
    np.testing.assert_array_equal(factors.values[-1], guess.values[-1])  # no data: kept


def test_level_model_recovers_synthetic_factors() -> None:
    expected, truth, obs = _synthetic()
    summary = factor_summary(fit_levels(expected, obs, horizon=0, settings=SMALL_FIT))
    fitted = slice(0, expected.sizes["year"] - 1)
    lower, upper = (np.log(summary.sel(quantile=q).values[fitted]) for q in (0.1, 0.9))
    covered = np.mean((lower <= truth[fitted]) & (truth[fitted] <= upper))
    assert covered >= 0.7  # nominal 0.8 over 66 correlated cells
    error = np.log(summary.sel(quantile=0.5).values[fitted]) - truth[fitted]
    assert np.abs(error).mean() < 0.02  # the Poisson noise of one count alone is ~0.018


def _level_posterior(rng: np.random.Generator, sigma: float) -> az.InferenceData:
    """A posterior of `level_model`'s variables, 2 chains x 50 draws, years 2020-2025, 4 regions."""
    shape = (2, 50)
    return az.from_dict(
        posterior={
            "log_factor": rng.normal(0.0, 0.1, size=(*shape, 6, 4)),
            "mu0": rng.normal(0.0, 0.05, size=shape),
            "tau": rng.uniform(0.0, 0.1, size=shape),
            "z": rng.normal(size=(*shape, 4)),
            "phi": rng.uniform(0.5, 0.95, size=shape),
            "sigma": np.full(shape, sigma),
        },
        coords={"year": np.arange(2020, 2026), "region": list("abcd")},
        dims={"log_factor": ["year", "region"], "z": ["region"]},
    )


def test_factor_draws_are_posterior_trajectories_then_their_ar1() -> None:
    """Within the posterior's years each path's factors are one draw's trajectory, the same whatever the
    chunk; past them, with sigma = 0, the deviation from mu0 + tau z decays by phi a year (computed here);
    with sigma > 0 paths spread and stay chunk-independent; years before the posterior are refused."""
    rng = np.random.default_rng(24)
    key = jax.random.PRNGKey(3)
    idata = _level_posterior(rng, sigma=0.0)
    years = np.array([2022, 2023, 2025, 2026, 2028])
    factors = factor_draws(idata, key, 5, years)
    assert factors.shape == (5, 5, 4)
    post = {
        name: idata["posterior"][name].values.reshape(100, *idata["posterior"][name].shape[2:])
        for name in ("log_factor", "mu0", "tau", "z", "phi")
    }
    for path in range(5):
        draw = next(
            d for d in range(100) if np.allclose(np.exp(post["log_factor"][d, 2:4]), factors[:2, path])
        )
        mean = post["mu0"][draw] + post["tau"][draw] * post["z"][draw]
        deviation = post["log_factor"][draw, -1] - mean
        for row, h in ((3, 1), (4, 3)):
            expected = np.exp(mean + post["phi"][draw] ** h * deviation)
            np.testing.assert_allclose(factors[row, path], expected, rtol=1e-6)
    np.testing.assert_array_equal(factor_draws(idata, key, [3, 4], years), factors[:, 3:])

    noisy = factor_draws(_level_posterior(np.random.default_rng(24), sigma=0.05), key, 8, years)
    assert np.log(noisy[-1]).std() > 0.0 and not np.allclose(noisy[-1], factors[-1].mean())
    np.testing.assert_array_equal(
        factor_draws(_level_posterior(np.random.default_rng(24), sigma=0.05), key, [6, 7], years),
        noisy[:, 6:],
    )
    with pytest.raises(ValueError, match="2019"):
        factor_draws(idata, key, 5, np.array([2019, 2020]))


@pytest.fixture(scope="module")
def inputs(shared_data: Path) -> CountyInputs:
    return county_inputs(load_country(shared_data / "norway"), shared_data / "norway" / "regional")


def test_national_rates_on_the_county_basis_give_hmd_totals(inputs: CountyInputs, shared_data: Path) -> None:
    country = load_country(shared_data / "norway")
    years = inputs.rates["year"].values
    births = inputs.expected["births"].sum("region") / country.births.sel(year=years).sum("sex")
    deaths = inputs.expected["deaths"].sum("region") / country.deaths.sel(year=years).sum(["sex", "age"])
    np.testing.assert_allclose(births, 1.0, atol=0.001)
    np.testing.assert_allclose(deaths, 1.0, atol=0.002)


def _registered(inputs: CountyInputs) -> xr.DataArray:
    return inputs.population.sel(year=inputs.rates["year"]).sum(["sex", "age"])


def test_replay_with_registered_totals_reproduces_the_county_populations(inputs: CountyInputs) -> None:
    """Factors matching the registered totals (any factors where none is registered) and the net residual:
    the kernel's births, ageing and deaths must give back the registered stocks, chained over 18 years."""
    factors = {
        kind: observed_factors(
            getattr(inputs, kind), inputs.expected[kind], xr.ones_like(inputs.expected[kind])
        )
        for kind in ("births", "deaths")
    }
    account = regional_account(inputs.population, inputs.rates, factors["births"], factors["deaths"])
    np.testing.assert_allclose(account["internal"].sum("region"), 0.0, atol=1e-8)
    replayed = replay_net(
        inputs.population, inputs.rates, account, factors["births"], factors["deaths"], True
    )
    np.testing.assert_allclose(replayed.sum(["sex", "age"]), _registered(inputs), rtol=1e-9)
    assert float(replayed.min()) >= 0.0


def test_replay_with_estimated_rates_within_half_a_percent(inputs: CountyInputs) -> None:
    """The issue's check: factors from the level model's posterior mean, net migration from the account
    with registered totals; every county total in every year within 0.5%, one year ahead and chained.
    National rates without regional levels miss by more (the factors carry information)."""
    posterior = {
        kind: xr.ufuncs.exp(
            fit_levels(inputs.expected[kind], getattr(inputs, kind), horizon=0, settings=MEAN_FIT)[
                "posterior"
            ]["log_factor"]
        ).mean(["chain", "draw"])
        for kind in ("births", "deaths")
    }
    registered_factors = {
        kind: observed_factors(getattr(inputs, kind), inputs.expected[kind], posterior[kind])
        for kind in ("births", "deaths")
    }
    account = regional_account(
        inputs.population, inputs.rates, registered_factors["births"], registered_factors["deaths"]
    )
    registered = _registered(inputs)
    errors = {}
    for chained in (False, True):
        replayed = replay_net(
            inputs.population, inputs.rates, account, posterior["births"], posterior["deaths"], chained
        )
        errors[chained] = float(np.abs(replayed.sum(["sex", "age"]) / registered - 1).max())
    assert errors[False] < 0.005
    assert errors[True] < 0.005
    ones = xr.ones_like(posterior["births"])
    national = replay_net(inputs.population, inputs.rates, account, ones, ones, True)
    assert float(np.abs(national.sum(["sex", "age"]) / registered - 1).max()) > 2 * errors[True]
