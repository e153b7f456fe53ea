"""The shared fitting machinery on a tiny model with a known posterior."""

import json
import warnings

import arviz as az
import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
import scipy.stats
import xarray as xr

from stochpop.components.fitting import FitWarning, diagnose, fit_model, read_diagnostics, refit_if_unmixed
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.randomness import path_keys, path_shocks, posterior_draws, student_t
from stochpop.components.settings import FitSettings

Y = np.array([1.2, 0.7, 2.1, 1.5, 0.9, 1.8, 1.1, 1.4])


def normal_mean(y):
    """y ~ N(mu, 1), mu ~ N(0, 10): posterior N(sum(y) / (n + 0.01), 1 / (n + 0.01))."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


def conjugate_posterior():
    precision = Y.size + 0.01
    return Y.sum() / precision, 1 / np.sqrt(precision)


def fit(settings):
    return fit_model(
        normal_mean,
        {"y": Y},
        settings,
        coords={},
        dims={},
        constant_data={"y": xr.DataArray(Y, dims="obs")},
        attrs={"component": "toy"},
    )


@pytest.mark.parametrize("method", ["nuts", "svi"])
def test_fit_matches_conjugate_posterior(method):
    idata = fit(FitSettings(method=method, warmup=300, samples=1000, svi_steps=3000))
    mean, sd = conjugate_posterior()
    mu = idata.posterior["mu"].values.ravel()
    assert abs(mu.mean() - mean) < 4 * sd / np.sqrt(200)
    assert abs(mu.std() / sd - 1) < 0.15
    np.testing.assert_array_equal(idata.constant_data["y"], Y)
    assert idata.posterior.attrs["fit_method"] == method
    if method == "nuts":
        diagnostics = read_diagnostics(idata)
        assert diagnostics.ok and diagnostics.divergences == 0 and diagnostics.max_rhat < 1.01
    else:
        assert read_diagnostics(idata) is None


def test_chains_one_at_a_time_draw_as_in_parallel():
    settings = FitSettings(warmup=200, samples=1000)
    one_at_a_time = fit_model(normal_mean, {"y": Y}, settings, {}, {}, {}, parallel_chains=False)
    mu = one_at_a_time["posterior"]["mu"].values
    assert mu.shape == (2, 1000) and not np.allclose(mu[0], mu[1])
    diagnostics = read_diagnostics(one_at_a_time)
    assert diagnostics is not None and diagnostics.ok
    if jax.local_device_count() >= settings.chains:  # else both run numpyro's "sequential" chains
        np.testing.assert_allclose(mu, fit(settings)["posterior"]["mu"].values, rtol=1e-6)


def test_short_fit_warns_loudly():
    with pytest.warns(FitWarning, match="toy fit failed its diagnostics: max R-hat"):
        fit(FitSettings(warmup=20, samples=30))


def test_diagnose_finds_the_worst_parameter():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(2, 500))
    stuck = np.stack([rng.normal(0, 1, 500), rng.normal(5, 1, 500)])  # chains disagree
    idata = az.from_dict(posterior={"good": good, "stuck": stuck})
    result = diagnose(idata)
    assert result.worst_rhat == "stuck" and result.max_rhat > 1.5 and not result.ok


def test_save_load_and_draws(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = fit(FitSettings(warmup=200, samples=300))
    reloaded = load_posterior(save_posterior(idata, tmp_path / "fit.nc"))
    keys = path_keys(jax.random.PRNGKey(3), 50)
    np.testing.assert_array_equal(posterior_draws(idata, keys)["mu"], posterior_draws(reloaded, keys)["mu"])
    many = posterior_draws(idata, path_keys(jax.random.PRNGKey(3), 5000))["mu"]
    assert many.shape == (5000,) and np.isin(many, idata.posterior["mu"].values.ravel()).all()
    # a draw from 600 with replacement: 5000 paths see nearly all of them, none far more often than others
    counts = np.unique(many, return_counts=True)[1]
    assert counts.size > 590 and counts.max() < 25
    with pytest.raises(FileNotFoundError, match="no saved posterior"):
        load_posterior(tmp_path / "missing.nc")


def test_path_randomness_depends_on_the_path_alone():
    key = jax.random.PRNGKey(11)
    whole = path_shocks(path_keys(key, 1000), 1, (40, 2), df=5.0)
    part = path_shocks(path_keys(key, np.arange(700, 1000)), 1, (40, 2), df=5.0)
    np.testing.assert_array_equal(whole[700:], part)
    single = path_shocks(path_keys(key, [3]), 1, (40, 2), df=5.0)
    np.testing.assert_array_equal(whole[3:4], single)
    # streams and per-path degrees of freedom: independent, right law (97.5% quantiles 3.182 and 1.960)
    other = path_shocks(path_keys(key, 1000), 2, (40, 2), df=5.0)
    assert abs(np.corrcoef(np.ravel(whole), np.ravel(other))[0, 1]) < 0.02
    heavy = path_shocks(path_keys(key, 2000), 1, (200,), df=np.full(2000, 3.0))
    assert np.quantile(heavy, 0.975) == pytest.approx(3.182, rel=0.03)
    normal = path_shocks(path_keys(key, 2000), 1, (200,))
    assert np.quantile(normal, 0.975) == pytest.approx(1.960, rel=0.02)
    with pytest.raises(ValueError, match="reserved"):
        path_shocks(path_keys(key, 2), 0, (3,))
    with pytest.raises(ValueError, match="non-negative"):
        path_keys(key, [-1, 2])


@pytest.mark.parametrize("df", [1.0, 2.5, 4.0, 30.0])
def test_student_t_has_the_student_t_law(df):
    draws = np.asarray(student_t(jax.random.PRNGKey(int(df * 10)), df, (100_000,)), dtype=float)
    assert scipy.stats.kstest(draws, scipy.stats.t(df).cdf).pvalue > 0.001
    assert np.quantile(draws, 0.99) == pytest.approx(scipy.stats.t(df).ppf(0.99), rel=0.05)


def _fit_with_rhat(rhats: dict[int, float], calls: list[int]):
    """A fake fit whose stored max R-hat depends on the seed; records the seeds it was called with."""

    def fit(settings: FitSettings) -> az.InferenceData:
        calls.append(settings.seed)
        idata = az.from_dict(posterior={"x": np.zeros((2, 5))})
        diagnostics = {"max_rhat": rhats[settings.seed], "min_ess_bulk": 500.0, "divergences": 0}
        idata["posterior"].attrs["diagnostics"] = json.dumps(
            {**diagnostics, "worst_rhat": "x", "worst_ess": "x"}
        )
        return idata

    return fit


@pytest.mark.parametrize(
    ("rhats", "restart", "calls_expected", "kept_seed"),
    [
        ({3: 1.002}, 1.05, [3], 3),  # mixed: no refit
        ({3: 2.2, 4: 1.003}, 1.05, [3, 4], 4),  # stuck chain: refit, the better one kept
        ({3: 1.2, 4: 1.9}, 1.05, [3, 4], 3),  # the refit is worse: the first kept
        ({3: 2.2}, None, [3], 3),  # restarts switched off
    ],
)
def test_refit_if_unmixed(rhats, restart, calls_expected, kept_seed):
    calls: list[int] = []
    fit = refit_if_unmixed(_fit_with_rhat(rhats, calls), FitSettings(seed=3), restart)
    assert calls == calls_expected
    assert fit["posterior"].attrs["fit_seed"] == kept_seed
    assert read_diagnostics(fit).max_rhat == rhats[kept_seed]
