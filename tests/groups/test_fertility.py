"""Fertility by BEFINN group: the model recovers known class levels from aggregates simulated on the real
design; the path sampler's class levels, weighted by the women at risk of each cell, give back the
model's aggregate TFR ratios and the registered ones within the posterior's spread; the factors start at
the fitted levels and converge towards 1; the father shares have the stated Beta law; a path does not
depend on its chunk; bad input raises."""

import warnings
from dataclasses import replace

import arviz as az
import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.fitting import FitWarning
from stochpop.components.settings import FitSettings
from stochpop.demography.groups import SHARE_IMMIGRANT_FATHER
from stochpop.groups import fertility
from stochpop.groups.fertility_data import (
    FertilityData,
    duration_class,
    fertility_data,
    grouped_population,
    women_at_risk,
)
from stochpop.groups.jump_off import CELLS
from stochpop.groups.registered import GROUPS, RegisteredGroups

PATHS = 1000
"""Paths drawn in every sampler test (one size: the sampler's programs compile once)."""
SMALL_FIT = FitSettings(chains=1, warmup=200, samples=200, seed=1)
TRUTH = {
    "group_level": np.array([-0.1, 0.05, 0.25]),
    "duration_step": np.array([0.05, 0.1, 0.1, 0.15]),
    "deviation_scale": 0.05,
    "deviation_coef": np.array([[1.0, -0.5, 0.3, 0.0], [-1.0, 0.5, 0.0, 0.5], [0.2, 0.0, -0.6, 1.0]]),
    "convergence_rate": 0.02,
    "noise_sd": 0.02,
    "share_noise_sd": 0.05,
    "proxy_offset": 0.05,
}
"""Known parameters of the recovery test (log scale; a 50% higher fertility at <=1 year than at 12+; the
ratios' noise below the registered series' 0.05, so that what is tested is what the design identifies)."""


def quiet_fit(data: FertilityData) -> az.InferenceData:
    """A short one-chain fit (its R-hat cannot be computed, so its diagnostics warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        warnings.simplefilter("ignore", UserWarning)
        return fertility.fit_fertility_data(data, SMALL_FIT)


@pytest.fixture(scope="module")
def population(registered: RegisteredGroups) -> xr.DataArray:
    return grouped_population(registered)


@pytest.fixture(scope="module")
def data(registered: RegisteredGroups, population: xr.DataArray) -> FertilityData:
    return fertility_data(registered, population)


@pytest.fixture(scope="module")
def fit(data: FertilityData) -> az.InferenceData:
    return quiet_fit(data)


def draws(idata: az.InferenceData, name: str) -> np.ndarray:
    """A posterior variable with its draws first (S, ...)."""
    values = idata["posterior"][name]
    return values.stack(sample=("chain", "draw")).transpose("sample", ...).values


def test_recovers_known_levels_from_simulated_aggregates(data: FertilityData) -> None:
    """Aggregates simulated from the model at known parameters on the real design (the registered series'
    weights): every class level's truth lies in its 90% interval, the group levels are within 0.1, and the
    duration profile (<=1 year against 12+) is learnt: truth inside, interval narrower than the prior's."""
    simulated = fertility.simulate_fertility_data(data, TRUTH, jax.random.PRNGKey(3))
    idata = quiet_fit(simulated)

    profile = np.concatenate([np.cumsum(TRUTH["duration_step"][::-1])[::-1], [0.0]])
    deviation = np.concatenate([TRUTH["deviation_scale"] * TRUTH["deviation_coef"], np.zeros((3, 1))], 1)
    shape = profile + deviation
    true_levels = TRUTH["group_level"][:, None] + shape - shape.mean(1, keepdims=True)
    levels = draws(idata, "log_relative")
    low, high = np.quantile(levels, [0.05, 0.95], axis=0)
    assert np.all((true_levels >= low) & (true_levels <= high))
    np.testing.assert_allclose(np.median(draws(idata, "group_level"), 0), TRUTH["group_level"], atol=0.1)

    effect = draws(idata, "duration_effect")[:, 0]
    prior_sd = fertility.DURATION_STEP_SD * np.sqrt(4 * (1 - 2 / np.pi))
    assert np.quantile(effect, 0.05) <= profile[0] <= np.quantile(effect, 0.95)
    assert effect.std() < 0.7 * prior_sd


def test_class_levels_by_cell_reproduce_the_aggregates(
    registered: RegisteredGroups, population: xr.DataArray, data: FertilityData, fit: az.InferenceData
) -> None:
    """The sampler's factors by cell, weighted by each cell's women at risk and the year's age schedule
    (NumPy, from the grouped population, not the model's weights), give the model's own aggregate for the
    same draw (the identity); with the fitted noise, at least 7 of the 8 registered immigrants' ratios lie
    within its 95% range."""
    years = np.unique(data.year)
    paths = fertility.group_fertility_paths(fit, years, PATHS, jax.random.PRNGKey(0))
    women = women_at_risk(population).sel(year=years).values  # (Y, C, X)
    immigrant = np.zeros(CELLS.size, dtype=bool)
    immigrant[1 : 1 + CELLS.groups * CELLS.durations] = True
    schedule = registered.fertility.sel(year=years).values
    schedule = schedule / schedule.sum(1, keepdims=True)
    within_age = women[:, immigrant] / women[:, immigrant].sum(1, keepdims=True)  # (Y, C_imm, X)
    factor = paths["fertility_factor"].values[:, :, immigrant]  # (n, Y, C_imm)
    aggregate = np.einsum("yx,ycx,nyc->ny", schedule, within_age, factor)

    rows = np.flatnonzero(data.series == "immigrants")
    row_year = np.searchsorted(years, data.year[rows])
    shrink = np.exp(-paths["convergence_rate"].values[:, None] * (data.year[rows] - data.reference_year))
    levels = np.exp(paths["relative_level"].values[:, None] * shrink[..., None, None])
    model = (data.mix[rows][None] * levels).sum((-1, -2))
    np.testing.assert_allclose(aggregate[:, row_year], model, rtol=1e-9)

    noise = np.median(draws(fit, "noise_sd"))
    z = np.random.default_rng(0).standard_normal(aggregate.shape)
    low, high = np.quantile(aggregate * np.exp(noise * z), [0.025, 0.975], axis=0)
    observed = data.ratio[rows]
    assert np.sum((observed >= low[row_year]) & (observed <= high[row_year])) >= rows.size - 1


def test_real_fit_reproduces_the_registered_ratios(data: FertilityData, fit: az.InferenceData) -> None:
    """Posterior predictive 95% intervals of the fit hold RegisteredGroups.tfr_ratio's years (2009, 2015,
    2016) and at least 90% of all 24 registered ratios; the fitted levels put group 3 above groups 1-2
    and every class level between 0.5 and 2.5 (the registered regional ratios: 0.84-1.99)."""
    fitted = draws(fit, "ratio_fitted") * np.exp(data.proxy * draws(fit, "proxy_offset")[:, None])
    rng = np.random.default_rng(0)
    predictive = fitted * np.exp(draws(fit, "noise_sd")[:, None] * rng.standard_normal(fitted.shape))
    low, high = np.quantile(predictive, [0.025, 0.975], axis=0)
    inside = (data.ratio >= low) & (data.ratio <= high)
    registered_rows = (data.series == "immigrants") & np.isin(data.year, [2009, 2015, 2016])
    assert inside[registered_rows].all()
    assert inside.mean() >= 0.9
    levels = np.exp(np.median(draws(fit, "log_relative"), 0))
    assert np.all((levels > 0.5) & (levels < 2.5))
    group_level = np.median(draws(fit, "group_level"), 0)
    assert group_level[2] > group_level[:2].max()


def test_factors_start_at_the_fitted_levels_and_converge(fit: az.InferenceData) -> None:
    """From the reference year: the factor of each immigrant cell is its class's fitted level, |log| never
    grows and keeps its sign; the rest and the Norwegian-born stay 1."""
    reference = int(fit["posterior"].attrs["reference_year"])
    years = np.arange(reference, reference + 80)
    paths = fertility.group_fertility_paths(fit, years, PATHS, jax.random.PRNGKey(1))
    factor = paths["fertility_factor"].values
    classes = duration_class(CELLS)
    for g in GROUPS:
        cells = [CELLS.immigrant(g, d) for d in range(CELLS.durations)]
        expected = np.exp(paths["relative_level"].values[:, g - 1, classes])
        np.testing.assert_allclose(factor[:, 0, cells], expected, rtol=1e-9)
    logs = np.log(factor)
    assert np.all(np.diff(np.abs(logs), axis=1) <= 1e-12)
    assert np.all(np.sign(logs[:, -1]) * np.sign(logs[:, 0]) >= 0)
    others = [CELLS.rest, *(CELLS.norwegian_born(g) for g in GROUPS)]
    assert np.all(factor[:, :, others] == 1.0)


def test_father_shares_follow_the_stated_beta(fit: az.InferenceData) -> None:
    """The father shares of 1000 paths: mean SSB's Figure 3.34 values and sd sqrt(m (1 - m) / (k + 1))."""
    paths = fertility.group_fertility_paths(fit, np.array([2022]), PATHS, jax.random.PRNGKey(2))
    shares = paths["share_immigrant_father"].values
    mean = np.asarray(SHARE_IMMIGRANT_FATHER)
    sd = np.sqrt(mean * (1 - mean) / (fertility.FATHER_SHARE_CONCENTRATION + 1))
    assert np.all(np.abs(shares.mean(0) - mean) <= 4 * sd / np.sqrt(PATHS))
    np.testing.assert_allclose(shares.std(0), sd, rtol=0.1)
    assert np.all((shares > 0) & (shares < 1))


def test_paths_do_not_depend_on_the_chunk(fit: az.InferenceData) -> None:
    """Paths 3 and 7 drawn alone equal paths 3 and 7 of 0..999 in every variable, exactly, and are labelled
    3 and 7."""
    key = jax.random.PRNGKey(4)
    alone = fertility.group_fertility_paths(fit, np.array([2022, 2040]), [3, 7], key)
    among = fertility.group_fertility_paths(fit, np.array([2022, 2040]), PATHS, key)
    np.testing.assert_array_equal(alone["path"].values, [3, 7])
    for name, values in alone.data_vars.items():
        np.testing.assert_array_equal(values.values, among[name].values[[3, 7]], err_msg=str(name))
    assert np.ptp(among["share_immigrant_father"].values[:, 0]) > 0  # paths differ


def test_bad_input_raises(data: FertilityData, fit: az.InferenceData) -> None:
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="years: must be strictly increasing"):
        fertility.group_fertility_paths(fit, np.array([2030, 2025]), 5, key)
    with pytest.raises(ValueError, match="years"):
        fertility.group_fertility_paths(fit, np.array([2030.5]), 5, key)
    with pytest.raises(ValueError, match="paths"):
        fertility.group_fertility_paths(fit, np.array([2030]), 0, key)
    foreign = az.InferenceData(posterior=fit["posterior"].drop_vars("log_relative"))
    with pytest.raises(ValueError, match="posterior: no variable 'log_relative'"):
        fertility.group_fertility_paths(foreign, np.array([2030]), 5, key)
    with pytest.raises(ValueError, match=r"FertilityData\.mix"):
        replace(data, mix=2 * data.mix)
    with pytest.raises(ValueError, match=r"FertilityData\.ratio"):
        replace(data, ratio=-data.ratio)
    with pytest.raises(ValueError, match=r"FertilityData\.birth_shares"):
        replace(data, birth_shares=data.birth_shares + 1.0)


def test_data_cut_at_last_year_hold_nothing_later(
    registered: RegisteredGroups, changed_after, data: FertilityData
) -> None:
    """Cut at 2014: the registered ratios of 2014 and before (the full data's), no 2017 birth shares, levels
    stated for 2014; the same data when every figure unknown on 1 January 2015 is doubled; and the model
    runs without birth shares."""
    cut = fertility_data(registered, last_year=2014)
    kept = data.year <= 2014
    assert cut.year.max() == 2014 and cut.reference_year == 2014 and cut.birth_shares.size == 0
    np.testing.assert_array_equal(cut.series, data.series[kept])
    np.testing.assert_array_equal(cut.ratio, data.ratio[kept])
    blind = fertility_data(changed_after(2014), last_year=2014)
    for name in ("ratio", "mix", "birth_women"):
        np.testing.assert_array_equal(getattr(blind, name), getattr(cut, name), err_msg=name)
    simulated = fertility.simulate_fertility_data(cut, TRUTH, jax.random.PRNGKey(0))
    assert simulated.ratio.shape == cut.ratio.shape and np.isfinite(simulated.ratio).all()
    with pytest.raises(ValueError, match="last_year"):
        fertility_data(registered, last_year=2008)
