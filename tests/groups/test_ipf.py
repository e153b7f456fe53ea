"""Iterative proportional fitting on synthetic arrays with known margins."""

import numpy as np

from stochpop.groups.ipf import Margin, ipf


def test_ipf_reaches_consistent_margins_and_keeps_zeros() -> None:
    rng = np.random.default_rng(3)
    seed = rng.random((3, 4, 6))
    seed[1, 2, :] = 0.0
    truth = rng.random((3, 4, 6)) * (seed > 0)
    by_class = Margin((0, 2), (np.arange(3), np.array([0, 0, 1, 1, 2, 2])), np.zeros((3, 3)))
    margins = [
        Margin(by_class.axes, by_class.labels, by_class.totals(truth)),
        Margin(
            (1,),
            (np.array([0, 1, 1, 0]),),
            Margin((1,), (np.array([0, 1, 1, 0]),), np.zeros(2)).totals(truth),
        ),
    ]
    fitted = ipf(seed, margins)
    for margin in margins:
        np.testing.assert_allclose(margin.totals(fitted), margin.target, rtol=1e-8)
    assert np.all(fitted[1, 2] == 0.0) and np.all(fitted >= 0)


def test_ipf_leaves_a_fitting_seed_alone() -> None:
    seed = np.arange(1.0, 13.0).reshape(3, 4)
    margins = [Margin((0,), (np.arange(3),), seed.sum(1)), Margin((1,), (np.arange(4),), seed.sum(0))]
    np.testing.assert_allclose(ipf(seed, margins), seed, rtol=1e-12)


def test_margin_totals_group_classes() -> None:
    array = np.arange(24.0).reshape(2, 3, 4)
    margin = Margin((1, 2), (np.array([0, 1, 1]), np.array([1, 0, 0, 1])), np.zeros((2, 2)))
    expected = np.array(
        [
            [array[:, 0, [1, 2]].sum(), array[:, 0, [0, 3]].sum()],
            [array[:, 1:, [1, 2]].sum(), array[:, 1:, [0, 3]].sum()],
        ]
    )
    np.testing.assert_allclose(margin.totals(array), expected)
