"""Time-series processes shared by the component families: AR(1) levels (with their NumPyro distribution),
random walks with drift, and a damped level plus AR(1) deviations (its Gaussian likelihood by a Kalman
filter), as recursions over a time axis and as forecast paths."""

from typing import ClassVar

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints
from numpyro.distributions.transforms import AffineTransform

Array = jax.Array


def ar1_recursion(start: Array, loc: Array, persistence: Array, scale: Array, shocks: Array) -> Array:
    """x_t = loc + persistence (x_{t-1} - loc) + scale e_t over shocks e (n_steps, ...) -> (n_steps, ...).

    `start` is x_0 (not returned); parameters broadcast against shocks[0]. A `jax.lax.scan`.
    """

    def step(previous: Array, e: Array) -> tuple[Array, Array]:
        current = loc + persistence * (previous - loc) + scale * e
        return current, current

    _, path = jax.lax.scan(step, jnp.broadcast_to(start, shocks.shape[1:]), shocks)
    return path


def random_walk_paths(start: Array, drift: Array, scale: Array, shocks: Array) -> Array:
    """x_t = x_{t-1} + drift + scale e_t over shocks e (n_steps, ...) -> (n_steps, ...), i.e.
    x_h = start + h drift + scale (e_1 + ... + e_h).

    `start` is x_0 (not returned); parameters broadcast against shocks[0].
    """
    return start + jnp.cumsum(drift + scale * shocks, axis=0)


def standard_shocks(key: Array, df: Array | None, n_steps: int, shape: tuple[int, ...]) -> Array:
    """Standard shocks (n_steps, *shape): Student-t with `df` (broadcast to shape), or normal if None."""
    if df is None:
        return jax.random.normal(key, (n_steps, *shape))
    return dist.StudentT(jnp.broadcast_to(df, shape)).sample(key, (n_steps,))


@jax.jit
def ar1_conditionals(value: Array, loc: Array, persistence: Array, scale: Array) -> tuple[Array, Array]:
    """Mean and scale (..., n) of each x_t of `value` (..., n) given x_{t-1}; the first: the stationary law's.

    Parameters have the batch shape (broadcasting against value[..., 0]).
    """
    loc, phi, scale = (jnp.expand_dims(jnp.asarray(v), -1) for v in (loc, persistence, scale))
    previous = value[..., :-1]
    first_mean = loc + 0.0 * value[..., :1]
    rest_mean = loc + phi * (previous - loc)
    batch = jnp.broadcast_shapes(first_mean.shape[:-1], rest_mean.shape[:-1])
    mean = jnp.concatenate(
        [
            jnp.broadcast_to(first_mean, (*batch, 1)),
            jnp.broadcast_to(rest_mean, (*batch, previous.shape[-1])),
        ],
        -1,
    )
    first_sd = scale / jnp.sqrt(1.0 - phi**2)
    sd = jnp.concatenate(
        [jnp.broadcast_to(first_sd, (*batch, 1)), jnp.broadcast_to(scale, (*batch, previous.shape[-1]))], -1
    )
    return mean, sd


@jax.jit
def ar1_log_density(value: Array, loc: Array, persistence: Array, scale: Array, df: Array | None) -> Array:
    """Log density of `AR1` paths `value` (..., n): the sum of the conditionals (`ar1_conditionals`)."""
    mean, sd = ar1_conditionals(value, loc, persistence, scale)
    standard = dist.Normal() if df is None else dist.StudentT(jnp.expand_dims(df, -1))
    return (standard.log_prob((value - mean) / sd) - jnp.log(sd)).sum(-1)


def shock_df_prior() -> dist.Distribution:
    """Degrees of freedom of level shocks: 2 + Gamma(2, 0.1) (Juarez & Steel 2010, shifted so the shocks
    keep a finite variance; prior median 19, 5% quantile 5.6)."""
    return dist.TransformedDistribution(
        dist.Gamma(2.0, 0.1), AffineTransform(2.0, 1.0, domain=constraints.positive)
    )


class AR1(dist.Distribution):
    """Stationary AR(1) path of length n_steps (event shape (n_steps,)).

    x_1 ~ S(loc, scale / sqrt(1 - persistence^2)), x_t = loc + persistence (x_{t-1} - loc) + scale e_t,
    e_t ~ S(0, 1), S Student-t with `df` degrees of freedom, or normal if `df` is None. (With t shocks the
    first value takes the t law with the Gaussian stationary scale, an approximation.)
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "loc": constraints.real,
        "persistence": constraints.interval(-1.0, 1.0),
        "scale": constraints.positive,
    }
    support = constraints.real_vector

    def __init__(
        self,
        loc: Array,
        persistence: Array,
        scale: Array,
        n_steps: int,
        df: Array | None = None,
        *,
        validate_args: bool | None = None,
    ) -> None:
        self.loc, self.persistence, self.scale, self.df = loc, persistence, scale, df
        shapes = [jnp.shape(v) for v in (loc, persistence, scale, *([] if df is None else [df]))]
        batch_shape = jax.lax.broadcast_shapes(*shapes)
        super().__init__(batch_shape=batch_shape, event_shape=(n_steps,), validate_args=validate_args)

    def sample(self, key: Array, sample_shape: tuple[int, ...] = ()) -> Array:
        shape = tuple(sample_shape) + self.batch_shape
        k_first, k_rest = jax.random.split(key)
        stationary = self.scale / jnp.sqrt(1.0 - self.persistence**2)
        first = self.loc + stationary * standard_shocks(k_first, self.df, 1, shape)[0]
        shocks = standard_shocks(k_rest, self.df, self.event_shape[0] - 1, shape)
        rest = ar1_recursion(first, self.loc, self.persistence, self.scale, shocks)
        return jnp.moveaxis(jnp.concatenate([first[None], rest], axis=0), 0, -1)

    def log_prob(self, value: Array) -> Array:
        return ar1_log_density(value, self.loc, self.persistence, self.scale, self.df)


def level_shift_paths(
    level: Array,
    deviation: Array,
    loc: Array,
    damping: Array,
    level_scale: Array,
    persistence: Array,
    scale: Array,
    level_shocks: Array,
    shocks: Array,
    bounds: Array | None = None,
) -> Array:
    """Totals x_t = L_t + d_t (n_steps, ...) of a damped level with AR(1) deviations, run on from the level
    `level` and deviation `deviation` of the step before the first:

        L_t = loc + damping (L_{t-1} - loc) + level_scale u_t,  d_t = persistence d_{t-1} + scale e_t

    over standard shocks u (`level_shocks`) and e (`shocks`), (n_steps, ...) each. With `bounds` (4,)
    the level runs so on a latent scale, from and towards the latent values of `level` and `loc`
    (`soft_bounds_inverse`), and is bent into the bounds (`soft_bounds`).
    """
    if bounds is None:
        levels = ar1_recursion(level, loc, damping, level_scale, level_shocks)
    else:
        start, centre = (soft_bounds_inverse(v, bounds) for v in (level, loc))
        levels = soft_bounds(ar1_recursion(start, centre, damping, level_scale, level_shocks), bounds)
    return levels + ar1_recursion(deviation, jnp.zeros_like(deviation), persistence, scale, shocks)


ALMOST_ONE = 1.0 - 1e-6
"""How near an outer bound `soft_bounds_inverse` takes values at or beyond it (float32 tells it from 1)."""


def soft_bounds(x: Array, bounds: Array) -> Array:
    """x bent into the open interval (lowest, highest), `bounds` = (lowest, low, high, highest): unchanged
    in [low, high]; above high, high + (highest - high) tanh((x - high) / (highest - high)), and below low
    its mirror image, so slope 1 at the inner bounds and the outer ones approached, never passed."""
    lowest, low, high, highest = (bounds[i] for i in range(4))
    above = high + (highest - high) * jnp.tanh((x - high) / (highest - high))
    below = low - (low - lowest) * jnp.tanh((low - x) / (low - lowest))
    return jnp.where(x > high, above, jnp.where(x < low, below, x))


def soft_bounds_inverse(y: Array, bounds: Array) -> Array:
    """The x that `soft_bounds` bends to y; y at or beyond an outer bound is taken `ALMOST_ONE` of the way
    from the inner one to it."""
    lowest, low, high, highest = (bounds[i] for i in range(4))
    above = high + (highest - high) * jnp.arctanh(jnp.clip((y - high) / (highest - high), 0.0, ALMOST_ONE))
    below = low - (low - lowest) * jnp.arctanh(jnp.clip((low - y) / (low - lowest), 0.0, ALMOST_ONE))
    return jnp.where(y > high, above, jnp.where(y < low, below, y))


@jax.jit
def level_shift_log_likelihood(
    value: Array, loc: Array, damping: Array, level_scale: Array, persistence: Array, scale: Array
) -> Array:
    """Gaussian log likelihood of totals `value` (n,) under `level_shift_paths` with normal shocks, the
    level and the deviation each starting from its stationary law: a Kalman filter over the state
    (L_t, d_t) observed without error through x_t = L_t + d_t. Scalar parameters; vmap for batches.
    """
    transition = jnp.diag(jnp.stack([damping, persistence]))
    innovation = jnp.diag(jnp.stack([level_scale, scale]) ** 2)
    constant = jnp.stack([(1.0 - damping) * loc, 0.0 * loc])
    mean = jnp.stack([loc, 0.0 * loc])
    cov = jnp.diag(jnp.stack([level_scale**2 / (1.0 - damping**2), scale**2 / (1.0 - persistence**2)]))

    def step(state: tuple[Array, Array], x: Array) -> tuple[tuple[Array, Array], Array]:
        mean, cov = state
        error, variance = x - mean.sum(), cov.sum()
        gain = cov.sum(1) / variance
        mean, cov = mean + gain * error, cov - jnp.outer(gain, cov.sum(0))
        log_density = -0.5 * (jnp.log(2.0 * jnp.pi * variance) + error**2 / variance)
        return (constant + transition @ mean, transition @ cov @ transition.T + innovation), log_density

    _, log_densities = jax.lax.scan(step, (mean, cov), value)
    return log_densities.sum()
