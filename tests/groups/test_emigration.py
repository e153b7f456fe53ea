"""The grouped emigration model: its expected counts against a NumPy computation, recovery of known
parameters from counts simulated from it, monotone duration effects in every draw and path, the path
sampler's AR(1) continuation, paths independent of their chunk, the factored probabilities in a JAX scan
against NumPy, the fit to Norway's registered aggregates, and errors on bad input."""

import warnings
from dataclasses import replace

import arviz as az
import jax
import numpy as np
import pytest
from numpyro.handlers import seed, substitute, trace
from scipy.special import expit, logit

from stochpop.components.fitting import FitWarning
from stochpop.components.randomness import path_keys, posterior_draws
from stochpop.components.settings import FitSettings
from stochpop.groups import emigration, emigration_data
from stochpop.groups.jump_off import CELLS
from stochpop.groups.registered import RegisteredGroups

RNG_SEED = 20261206
N_YEARS = 10
TRUE = {
    "level_mean": -4.0,
    "persistence": 0.7,
    "level_scale": 0.15,
    "duration_step": np.array(emigration.LADDER_STEPS),
    "group3_log_odds": 0.8,
    "group_gap": np.array([0.5, 0.3]),
    "norwegian_born_weight": 0.5,
    "female_log_odds": emigration.FEMALE_LOG_ODDS,
    "kappa": 1.0,
    "cv": np.array([0.03, 0.05]),
}
"""Known parameters of the simulation (the findings' duration ladder, a cycle of 15% a year)."""


def numpy_class_log_odds(p: dict) -> np.ndarray:
    """k by effect class (K,) written out: rest, immigrants g = 1..3 by ladder class, Norwegian-born."""
    ladder = np.array([p["duration_step"][j:].sum() for j in range(4)] + [0.0])
    a3 = p["group3_log_odds"]
    groups = np.array([a3 + p["group_gap"][0] + p["group_gap"][1], a3 + p["group_gap"][1], a3])
    return np.concatenate([[0.0], (groups[:, None] + ladder).ravel(), p["norwegian_born_weight"] * groups])


def expected_by_class(p: dict, level: np.ndarray, data: emigration_data.EmigrationData) -> np.ndarray:
    """Expected emigrations (T, K) in NumPy."""
    sex = np.array([p["female_log_odds"], 0.0])
    eta = level[:, None, None, None] + numpy_class_log_odds(p)[:, None, None] + sex[:, None] + data.offset
    return (expit(eta) * data.at_risk).sum((-1, -2))


def simulate() -> tuple[emigration_data.EmigrationData, np.ndarray]:
    """Counts of every effect class in every year, simulated from the model at `TRUE`, and the level."""
    rng = np.random.default_rng(RNG_SEED)
    ages = np.arange(emigration_data.N_AGES)
    bump = np.exp(-0.5 * ((ages - 27.0) / 8.0) ** 2)
    offset = np.log(np.stack([0.9 * bump + 0.1, bump + 0.1]))
    at_risk = rng.uniform(500.0, 3000.0, (N_YEARS, emigration_data.N_CLASSES, 2, emigration_data.N_AGES))
    mu, phi, sigma = TRUE["level_mean"], TRUE["persistence"], TRUE["level_scale"]
    level = np.empty(N_YEARS)
    level[0] = mu + sigma / np.sqrt(1 - phi**2) * rng.standard_normal()
    for t in range(1, N_YEARS):
        level[t] = mu + phi * (level[t - 1] - mu) + sigma * rng.standard_normal()
    n = N_YEARS * emigration_data.N_CLASSES
    data = emigration_data.EmigrationData(
        years=np.arange(2000, 2000 + N_YEARS),
        at_risk=at_risk,
        offset=offset,
        obs_year=np.repeat(np.arange(N_YEARS), emigration_data.N_CLASSES),
        obs_weights=np.tile(np.eye(emigration_data.N_CLASSES), (N_YEARS, 1)),
        obs_kappa=np.zeros((n, emigration_data.N_CLASSES)),
        obs_source=np.zeros(n, dtype=int),
        counts=np.zeros(n),
        labels=tuple(f"obs {i}" for i in range(n)),
    )
    mean = expected_by_class(TRUE, level, data).ravel()
    counts = np.round(rng.normal(mean, np.sqrt(mean + (TRUE["cv"][0] * mean) ** 2)))
    return replace(data, counts=counts), level


@pytest.fixture(scope="module")
def simulated() -> tuple[emigration_data.EmigrationData, np.ndarray]:
    return simulate()


@pytest.fixture(scope="module")
def recovered(simulated: tuple[emigration_data.EmigrationData, np.ndarray]) -> az.InferenceData:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # one short chain: no R-hat
        return emigration.fit_data(
            simulated[0], FitSettings(chains=1, warmup=200, samples=200, max_tree_depth=6, seed=3)
        )


def test_model_mean_is_the_numpy_sum_over_cells(simulated) -> None:
    """The model's expected counts at known parameters equal the NumPy sum of p x stock at risk, and
    kappa moves only the aggregates that carry it."""
    data, level = simulated
    kappa_rows = np.zeros_like(data.obs_kappa)
    kappa_rows[:N_YEARS, 1:16] = 1.0
    data = replace(data, obs_kappa=kappa_rows)
    values = TRUE | {
        "kappa": 1.3,
        "level": level,
        "level_mean_coef": (TRUE["level_mean"] - emigration.LEVEL_MEAN[0]) / emigration.LEVEL_MEAN[1],
    }
    model = substitute(seed(emigration.group_emigration_model, 0), data=values)
    sites = trace(model).get_trace(data=data)
    by_class = expected_by_class(TRUE, level, data)
    reference = [
        (data.obs_weights[i] + 1.3 * kappa_rows[i]) @ by_class[year] for i, year in enumerate(data.obs_year)
    ]
    np.testing.assert_allclose(np.asarray(sites["expected_counts"]["value"]), reference, rtol=2e-4)


def test_recovers_duration_ladder_and_level(simulated, recovered) -> None:
    """Every duration class's log odds, the level mean and at least 8 of the 10 yearly levels lie in
    their 95% posterior intervals, and the ladder's intervals are narrower than its prior's."""
    _, level = simulated
    post = recovered["posterior"]
    ladder = post["duration_log_odds"].values.reshape(-1, 5)[:, :4]
    truth = np.array([TRUE["duration_step"][j:].sum() for j in range(4)])
    low, high = np.quantile(ladder, [0.025, 0.975], axis=0)
    assert np.all((low <= truth) & (truth <= high)), (low, truth, high)
    prior_steps = np.exp(np.log(TRUE["duration_step"]) + 2 * emigration.STEP_LOG_SD)
    assert np.all(high - low < prior_steps[::-1].cumsum()[::-1])
    mean_low, mean_high = np.quantile(post["level_mean"].values, [0.025, 0.975])
    assert mean_low <= TRUE["level_mean"] <= mean_high
    levels = post["level"].values.reshape(-1, N_YEARS)
    low, high = np.quantile(levels, [0.025, 0.975], axis=0)
    assert ((low <= level) & (level <= high)).sum() >= 8


def test_duration_effect_is_monotone_in_every_draw_and_path(recovered) -> None:
    """Duration log odds never rise with duration in any draw; nor do the sampled probabilities of any
    group, sex and age along durations 0..30; all lie in [0, 1)."""
    ladder = recovered["posterior"]["duration_log_odds"].values.reshape(-1, 5)
    assert np.all(np.diff(ladder, axis=-1) <= 0)
    paths = emigration.group_emigration_paths(recovered, np.array([2010, 2017]), 50, jax.random.PRNGKey(0))
    values = paths.values
    assert np.all((values >= 0) & (values < 1))
    for g in (1, 2, 3):
        by_duration = values[:, :, [CELLS.immigrant(g, d) for d in range(CELLS.durations)]]
        assert np.all(np.diff(by_duration, axis=2) <= 0)


def test_first_path_year_mean_is_the_ar1_conditional_mean(recovered) -> None:
    """The level behind the first year's probabilities (the rest's logit at a man's age less the offset)
    averages, over 400 paths, mu + phi (L_last - mu) of each path's draw (`posterior_draws` of its key),
    within 4 standard errors."""
    n_paths, key = 400, jax.random.PRNGKey(5)
    paths = emigration.group_emigration_paths(recovered, np.array([2010]), n_paths, key)
    offset = recovered["constant_data"]["offset"].sel(sex="male", age=25).item()
    level = logit(paths.sel(cell="rest", sex="male", age=25, year=2010).values) - offset
    draws = posterior_draws(
        recovered, path_keys(key, n_paths), ["level", "level_mean", "persistence", "level_scale"]
    )
    mu, phi, sigma = (draws[k].astype(float) for k in ("level_mean", "persistence", "level_scale"))
    conditional = mu + phi * (draws["level"][:, -1] - mu)
    error = np.sqrt(np.mean(sigma**2) / n_paths)
    assert abs(level.mean() - conditional.mean()) < 4 * error
    assert np.std((level - conditional) / sigma) == pytest.approx(1.0, abs=0.1)


def test_paths_do_not_depend_on_the_chunk(recovered) -> None:
    """Paths 3 and 7 drawn alone equal rows 3 and 7 of paths 0..49, exactly, and are labelled 3 and 7."""
    years, key = np.array([2010, 2017]), jax.random.PRNGKey(8)  # shapes of the monotonicity test's
    alone = emigration.group_emigration_paths(recovered, years, [3, 7], key)
    among = emigration.group_emigration_paths(recovered, years, 50, key)
    np.testing.assert_array_equal(alone["path"].values, [3, 7])
    np.testing.assert_array_equal(alone.values, among.values[[3, 7]])
    assert np.ptp(among.sel(cell="rest", sex="male", age=25).values[:, 0]) > 0  # paths differ


def test_probabilities_in_a_jax_scan_are_the_numpy_formula_and_the_paths(recovered) -> None:
    """emigration_probabilities with jax.numpy, year by year in a jitted lax.scan over the drivers, equals
    logit^-1(L + k(c) + f(s) + o(s, x)) in NumPy (float32 precision); group_emigration_paths' values
    equal the NumPy formula (1e-12)."""
    years, key = np.array([2010, 2017]), jax.random.PRNGKey(9)
    drivers = emigration.emigration_drivers(recovered, years, 50, key)
    n = drivers.level.shape[0]
    assert drivers.cell_log_odds.shape == (n, CELLS.size)
    assert drivers.sex_log_odds.shape == (n, 2) and drivers.offset.shape == (2, emigration_data.N_AGES)
    formula = expit(
        drivers.level[:, :, None, None, None]
        + drivers.cell_log_odds[:, None, :, None, None]
        + drivers.sex_log_odds[:, None, None, :, None]
        + drivers.offset
    )

    @jax.jit
    def scanned(level, cell, sex, offset):
        def step(carry, at):
            return carry, emigration.emigration_probabilities(at, cell, sex, offset)

        return jax.lax.scan(step, None, level.T)[1]

    in_jax = np.moveaxis(np.asarray(scanned(*drivers)), 0, 1)
    np.testing.assert_allclose(in_jax, formula, rtol=2e-5, atol=1e-9)
    paths = emigration.group_emigration_paths(recovered, years, 50, key)
    np.testing.assert_allclose(paths.values, formula, rtol=1e-12, atol=0)


def test_bad_input_raises(simulated, recovered) -> None:
    data, _ = simulated
    with pytest.raises(ValueError, match="at_risk"):
        replace(data, at_risk=data.at_risk[:, :3])
    with pytest.raises(ValueError, match="counts"):
        replace(data, counts=-data.counts)
    with pytest.raises(ValueError, match="obs_year"):
        replace(data, obs_year=data.obs_year + N_YEARS)
    with pytest.raises(ValueError, match="years"):
        emigration.group_emigration_paths(recovered, np.array([2005]), 5, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="paths"):
        emigration.group_emigration_paths(recovered, np.array([2020]), 0, jax.random.PRNGKey(0))


def test_fit_reproduces_registered_aggregates(registered: RegisteredGroups) -> None:
    """Fitted to Norway's registers (a short chain), the 2014 emigrations by world region and of everyone
    else, and the 2013 emigrations of immigrants and of everyone else, lie in their 95% predictive
    intervals."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        fit = emigration.fit_group_emigration(
            registered, FitSettings(chains=1, warmup=200, samples=100, max_tree_depth=5)
        )
    replicated = emigration.replicated_counts(fit, jax.random.PRNGKey(0))
    low, high = replicated.quantile([0.025, 0.975], "draw")
    counts = fit["constant_data"]["counts"]
    checked = [label for label in counts["observation"].values if label[:4] in ("2013", "2014")]
    assert len(checked) == 5
    for label in checked:
        count = counts.sel(observation=label).item()
        assert low.sel(observation=label) <= count <= high.sel(observation=label), label


def test_data_cut_at_last_year_hold_nothing_later(registered: RegisteredGroups, changed_after) -> None:
    """Cut at 2012: years 1990-2012, the registered aggregates of those years with their counts, Eurostat's
    female shares of 2012 and before; the same data when every figure unknown on 1 January 2013 is
    doubled."""
    cut = emigration_data.emigration_data(registered, last_year=2012)
    full = emigration_data._observations(registered, np.arange(emigration_data.FIRST_YEAR, 2013))
    assert cut.years[0] == emigration_data.FIRST_YEAR and cut.years[-1] == 2012
    assert cut.labels == tuple(row[0] for row in full)
    np.testing.assert_array_equal(cut.counts, [row[5] for row in full])
    assert cut.years[cut.share_year].max() == 2012
    blind = emigration_data.emigration_data(changed_after(2012), last_year=2012)
    for name in ("at_risk", "offset", "counts", "female", "total"):
        np.testing.assert_array_equal(getattr(blind, name), getattr(cut, name), err_msg=name)
    with pytest.raises(ValueError, match="last_year"):
        emigration_data.emigration_data(registered, last_year=2007)
