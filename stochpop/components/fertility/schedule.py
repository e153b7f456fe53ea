"""The parametric ASFR: a level (TFR) times a Lee-Carter age schedule, softmax_x(alpha_x + beta_x kappa_t),
and the log-linear tails that extend the schedule beyond the ages with free values."""

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

Array = jax.Array


def log_schedule(alpha: Array, beta: Array, kappa: Array) -> Array:
    """Log shares (..., T, A) of the age schedule (summing to one over age) from alpha, beta (..., A) and the
    timing index kappa (..., T) in years of mean age."""
    return jax.nn.log_softmax(alpha[..., None, :] + beta[..., None, :] * kappa[..., :, None], axis=-1)


def asfr_from(log_tfr: Array, alpha: Array, beta: Array, kappa: Array) -> Array:
    """ASFR (..., T, A) in births per woman-year: exp(log TFR (..., T)) times the `log_schedule`."""
    return jnp.exp(log_tfr[..., None] + log_schedule(alpha, beta, kappa))


def with_tails(free: Array, below: ArrayLike, above: ArrayLike, decay: Array) -> Array:
    """Values at all ages (A,) from those of the free ages (F,): the tails continue the edge values, falling
    linearly by decay[0] per year below and decay[1] per year above, at distances `below`, `above` (years)
    from the first / last free age."""
    return jnp.concatenate([free[0] - decay[0] * below, free, free[-1] - decay[1] * above])
