"""Forecast randomness keyed by path.

Path i uses only `fold_in(key, i)` (`path_keys`), split into numbered streams (`path_shocks`; stream 0 picks
the path's posterior draw, `posterior_draws`). A path is therefore the same whether it is drawn alone, in a
chunk of 100 or among 10 000, which is what lets a projection cut its paths into chunks for Dask without
changing any result.
"""

from collections.abc import Sequence
from functools import partial
from typing import Any

import arviz as az
import jax
import numpy as np

Paths = int | Sequence[int] | np.ndarray
"""Which forecast paths to draw: n (paths 0..n-1) or their indices."""


def path_indices(paths: Paths) -> np.ndarray:
    """Path indices (n,) int64 from n or a sequence of non-negative indices."""
    if np.ndim(paths) == 0:
        count = int(np.asarray(paths))  # a 0-d `paths` is a count
        if count < 1:
            raise ValueError(f"the number of paths must be at least 1, not {paths}")
        return np.arange(count)
    index = np.asarray(paths)
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer) or index.min() < 0:
        raise ValueError("paths must be a count or a non-empty 1-D array of non-negative integer indices")
    return index.astype(np.int64)


@jax.jit
def _fold_in_each(key: jax.Array, data: jax.Array) -> jax.Array:
    """fold_in(key, d) for every d of `data` (n,): (n, *key.shape)."""
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, data)


def path_keys(key: jax.Array, paths: Paths) -> jax.Array:
    """One PRNG key per path (n, *key.shape): fold_in(key, path index)."""
    return _fold_in_each(key, jax.numpy.asarray(path_indices(paths), dtype=jax.numpy.uint32))


def path_shocks(keys: jax.Array, stream: int, shape: tuple[int, ...], df: Any = None) -> jax.Array:
    """Standard shocks (n, *shape) from each path's key `stream` (>= 1): normal, or Student-t with `df`
    degrees of freedom (a scalar or one per path, (n,); `student_t`). Path i's shocks depend on keys[i]
    alone."""
    if stream < 1:
        raise ValueError("stream 0 is reserved for posterior_draws")
    if df is None:
        return _normal_shocks(keys, stream, shape)
    return _t_shocks(
        keys, stream, shape, jax.numpy.broadcast_to(jax.numpy.asarray(df, float), keys.shape[:1])
    )


@partial(jax.jit, static_argnums=(1, 2))
def _normal_shocks(keys: jax.Array, stream: int, shape: tuple[int, ...]) -> jax.Array:
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, stream)
    return jax.vmap(lambda k: jax.random.normal(k, shape))(keys)


@partial(jax.jit, static_argnums=(1, 2))
def _t_shocks(keys: jax.Array, stream: int, shape: tuple[int, ...], df: jax.Array) -> jax.Array:
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, stream)
    return jax.vmap(lambda k, d: student_t(k, d, shape))(keys, df)


def student_t(key: jax.Array, df: Any, shape: tuple[int, ...]) -> jax.Array:
    """Student-t variates with `df` degrees of freedom (any real df > 0, broadcasting against `shape`).

    Bailey's (1994) polar method with its point in the unit disk drawn directly, squared radius W uniform on
    (0, 1] and angle A uniform: T = cos(A) sqrt(df (W^(-2/df) - 1)). Exact, and without the rejection loop
    of `jax.random.t`'s gamma sampler, so it compiles and runs several times faster.
    """
    radius_key, angle_key = jax.random.split(key)
    w = 1.0 - jax.random.uniform(radius_key, shape)
    angle = (2.0 * np.pi) * jax.random.uniform(angle_key, shape)
    return jax.numpy.cos(angle) * jax.numpy.sqrt(df * jax.numpy.expm1(-2.0 / df * jax.numpy.log(w)))


def posterior_draws(
    idata: az.InferenceData, keys: jax.Array, names: Sequence[str] | None = None
) -> dict[str, np.ndarray]:
    """One joint parameter set per path key (n, ...) from the posterior (chains pooled, drawn uniformly and
    independently, so with replacement), each variable (`names`, default all) with a leading path axis."""
    posterior = idata["posterior"] if names is None else idata["posterior"][list(names)]
    available = posterior.sizes["chain"] * posterior.sizes["draw"]
    index = np.asarray(_draw_indices(keys, available))
    draws: dict[str, np.ndarray] = {}
    for name, var in posterior.data_vars.items():
        values = np.asarray(var.transpose("chain", "draw", ...).values)
        draws[str(name)] = values.reshape(available, *values.shape[2:])[index]
    return draws


@partial(jax.jit, static_argnums=1)
def _draw_indices(keys: jax.Array, available: int) -> jax.Array:
    """Each path's posterior draw (n,) in 0..available-1, from its key's stream 0."""
    keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, 0)
    return jax.vmap(lambda k: jax.random.randint(k, (), 0, available))(keys)
