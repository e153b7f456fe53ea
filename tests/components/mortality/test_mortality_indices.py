"""Partially non-centred coordinates of the coherent model's time indices."""

import jax
import numpy as np

from stochpop.components.mortality.indices import index_coordinates, index_from_coordinates


def test_partially_non_centred_indices():
    n_years = 12
    t = np.arange(n_years) - (n_years - 1) / 2
    reference = 0.3 * np.sin(t)[None] - 0.02 * t[None]
    reference = reference - reference.mean()
    xi = np.zeros((1, n_years - 1))
    drift, scale = np.array([-0.02]), np.array([0.01])
    with jax.enable_x64(True):
        # data far more precise than the prior: centred, k sits at the reference
        precise = index_coordinates(reference, np.full((1, n_years), 1e9), scale, None)
        assert precise.weight.max() < 1e-3
        k, _ = index_from_coordinates(xi, drift, scale, precise)
        np.testing.assert_allclose(k, reference, atol=1e-4)
        # no data: non-centred, k is the prior mean drift * (t - mean t) moved by scale * innovations
        vague = index_coordinates(reference, np.full((1, n_years), 1e-9), scale, None)
        assert vague.weight.min() > 1 - 1e-3
        k, _ = index_from_coordinates(xi, drift, scale, vague)
        np.testing.assert_allclose(k[0], -0.02 * t, atol=1e-6)
        shocks = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (1, n_years - 1)))
        k1, _ = index_from_coordinates(shocks, drift, scale, vague)
        k2, _ = index_from_coordinates(shocks, drift, 2 * scale, vague)
        np.testing.assert_allclose(k2 - 2 * k1, 0.02 * t[None], atol=1e-6)  # (k - mean) scales with s
        # AR(1) coordinates keep the sum at zero
        ar = index_coordinates(reference, np.full((1, n_years), 1e4), scale, np.array([0.8]))
        k, _ = index_from_coordinates(shocks, np.zeros(1), scale, ar)
        np.testing.assert_allclose(np.asarray(k).sum(), 0.0, atol=1e-12)
