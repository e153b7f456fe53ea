"""Likelihoods shared by the component families."""

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

Array = jax.Array


def log_gamma_ratio(k: Array, c: Array) -> Array:
    """lgamma(k + c) - lgamma(c) for counts k >= 0 (any shape) and a scalar c > 0.

    lgamma(k + c) by Stirling's series at x = k + c + 6 and the recurrence lgamma(x) = lgamma(x + 6) -
    log(x (x+1) ... (x+5)) (error below 1e-10); lgamma(c) exactly (one scalar). Several times cheaper than
    an `lgamma` per cell and its `digamma` gradient.
    """
    x = k + c
    y = x + 6.0
    inv2 = 1.0 / y**2
    series = (1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 / 1680))) / y
    log_gamma_y = (y - 0.5) * jnp.log(y) - y + 0.5 * np.log(2 * np.pi) + series
    shift = jnp.log(x * (x + 1.0) * (x + 2.0)) + jnp.log((x + 3.0) * (x + 4.0) * (x + 5.0))
    return log_gamma_y - shift - jax.lax.lgamma(c)


class NegativeBinomialCounts(dist.NegativeBinomial2):
    """NegativeBinomial2(mean, concentration) with a cheaper log mass than numpyro's `betaln` form:

        log p(k) = lgamma(k + c) - lgamma(c) - lgamma(k + 1) + c log(rho) - (c + k) log(1 + rho)

    (rho = c / mean)

    with lgamma(k + c) - lgamma(c) from `log_gamma_ratio` (c a scalar). `log_factorial`, if given, is
    lgamma(k + 1) of the observed counts.
    """

    def __init__(self, mean: Array, concentration: Array, log_factorial: Array | None = None) -> None:
        super().__init__(mean, concentration)
        self.log_factorial = log_factorial

    def log_prob(self, value: Array) -> Array:
        c, rho = self.concentration, self.rate
        log_factorial = jax.lax.lgamma(value + 1.0) if self.log_factorial is None else self.log_factorial
        return log_gamma_ratio(value, c) - log_factorial + c * jnp.log(rho) - (c + value) * jnp.log1p(rho)
