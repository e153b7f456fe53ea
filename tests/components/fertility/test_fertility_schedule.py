"""Fertility's pure pieces: the negative binomial log mass it uses, the schedule's invariances and tails, and
one year's typed values."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from stochpop.components.contract import FertilityValues
from stochpop.components.fertility import fertility_values, log_schedule, with_tails
from stochpop.components.likelihoods import NegativeBinomialCounts
from stochpop.demography.lifetable import mean_age_at_birth


def test_negative_binomial_log_mass_is_exact():
    counts, means = (0, 1, 7, 250, 4600), (0.2, 1.5, 6.0, 240.0, 4500.0)
    with jax.enable_x64(True):
        for c in (0.5, 3.0, 1500.0, 1e6):
            ours = NegativeBinomialCounts(jnp.array(means), c).log_prob(jnp.array(counts, dtype=float))
            exact = [
                math.lgamma(k + c)
                - math.lgamma(c)
                - math.lgamma(k + 1)
                + c * math.log(c / (c + m))
                + k * math.log(m / (c + m))
                for k, m in zip(counts, means, strict=True)
            ]
            np.testing.assert_allclose(ours, exact, rtol=0, atol=1e-8)


def test_schedule_invariances_and_tails():
    rng = np.random.default_rng(0)
    alpha, beta, kappa = rng.normal(size=8), rng.normal(size=8), rng.normal(size=5)
    base = log_schedule(alpha, beta, kappa)
    np.testing.assert_allclose(jnp.exp(base).sum(-1), 1.0, rtol=1e-6)
    for shifted in (
        log_schedule(alpha + 3.0, beta, kappa),
        log_schedule(alpha, beta - 2.0, kappa),
        log_schedule(alpha - 0.7 * beta, beta, kappa + 0.7),
        log_schedule(alpha, 2.0 * beta, kappa / 2.0),
    ):
        np.testing.assert_allclose(shifted, base, atol=1e-5)
    full = with_tails(jnp.array([1.0, 2.0]), jnp.array([2.0, 1.0]), jnp.array([1.0]), jnp.array([0.5, 3.0]))
    np.testing.assert_allclose(full, [0.0, 0.5, 1.0, 2.0, -1.0])


def test_values_are_typed_and_summarise_the_rates():
    rng = np.random.default_rng(1)
    ages = np.arange(15, 50, dtype=np.float32)
    fixed = {
        "alpha": jnp.asarray(rng.normal(size=(3, ages.size)), jnp.float32),
        "beta": jnp.asarray(0.1 * rng.normal(size=(3, ages.size)), jnp.float32),
        "ages": jnp.asarray(ages),
    }
    step = {"log_tfr": jnp.log(jnp.asarray([1.4, 1.7, 2.1])), "kappa": jnp.asarray([-1.0, 0.0, 2.0])}
    values = jax.jit(fertility_values)(fixed, step)
    assert isinstance(values, FertilityValues)
    assert values.fertility.shape == (3, ages.size) and values.fertility.dtype == jnp.float32
    np.testing.assert_allclose(values.tfr, [1.4, 1.7, 2.1], rtol=1e-5)
    asfr = np.asarray(values.fertility, dtype=float)
    np.testing.assert_allclose(values.mean_age, mean_age_at_birth(asfr, ages), rtol=1e-6)
