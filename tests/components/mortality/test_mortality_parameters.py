"""The coherent model's age loadings."""

import numpy as np

from stochpop.components.mortality.parameters import LOADING_NODES, loading_basis


def test_loading_basis_interpolates_nodes():
    ages = np.arange(101)
    basis = loading_basis(ages)
    assert basis.shape == (101, len(LOADING_NODES))
    np.testing.assert_allclose(basis.sum(1), 1.0)
    values = np.sqrt(np.asarray(LOADING_NODES, float))
    np.testing.assert_allclose((basis @ values)[list(LOADING_NODES)], values)
