"""Mortality forecast pieces: the Kannisto extension and the index paths."""

import jax
import numpy as np

from stochpop.components.mortality.forecast import (
    coherent_index_paths,
    kannisto_rates,
    lee_carter_index_paths,
)
from stochpop.components.randomness import path_keys, path_shocks


def test_kannisto_extension_is_continuous_and_bounded():
    ages = np.arange(101)
    log_m = -10.0 + 0.09 * ages  # Gompertz, m(100) ~ 0.37
    with jax.enable_x64(True):
        rates = np.asarray(kannisto_rates(log_m))
    assert rates.shape == (120,)
    np.testing.assert_allclose(rates[:101], np.exp(log_m), rtol=1e-12)
    assert 0.8 < rates[101] / rates[100] < 1.25
    assert (np.diff(rates[100:]) > 0).all() and rates[-1] < 1


def test_index_paths_match_their_recursions():
    horizon, pick = 5, np.array([0, 2, 4])
    params = {
        "k_p": np.array([[[0.0, 0.4], [0.0, -0.1]]]),  # (draw, component, year): k(T) = 0.4, -0.1
        "drift": np.array([[-0.02, 0.01]]),
        "sigma": np.array([[0.05, 0.02]]),
        "k_r": np.array([[[0.0, 0.3]]]),
        "phi": np.array([[0.7]]),
        "tau": np.array([[0.1]]),
    }
    with jax.enable_x64(True):
        keys = path_keys(jax.random.PRNGKey(0), 1)
        k_p, k_r = (np.asarray(k) for k in coherent_index_paths(params, pick, keys, horizon, None))
        e = np.asarray(path_shocks(keys, 1, (horizon, 2)))[0]  # (H, component)
        u = np.asarray(path_shocks(keys, 2, (horizon, 1)))[0]
        k_lc = lee_carter_index_paths(
            params["k_p"][..., -1], params["drift"], params["sigma"], pick, keys, horizon
        )
    # ratio: k(T+h) = phi k(T+h-1) + tau u_h
    expected, value = [], 0.3
    for h in range(horizon):
        value = 0.7 * value + 0.1 * u[h, 0]
        expected.append(value)
    np.testing.assert_allclose(k_r[0, :, 0], np.asarray(expected)[pick])
    # product: k(T+h) = k(T) + h drift + sigma (e_1 + ... + e_h)
    h = np.arange(1, horizon + 1)[:, None]
    walk = params["k_p"][0, :, -1] + h * params["drift"][0] + params["sigma"][0] * np.cumsum(e, axis=0)
    np.testing.assert_allclose(k_p[0], walk[pick])
    np.testing.assert_allclose(np.asarray(k_lc)[0], walk[pick])  # the same walks from the same stream
