"""A toy run for the store's tests: a random walk per path, keyed by the path index only."""

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

YEARS = np.arange(2025, 2045)


def toy_paths(start: int, stop: int) -> xr.Dataset:
    """A random walk per path from key (seed 7, path index): depends on nothing but the path index."""
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(7), i))(jnp.arange(start, stop))
    steps = jax.vmap(lambda k: jax.random.normal(k, (YEARS.size, 3)))(keys)
    values = 100.0 + jnp.cumsum(steps, axis=1)
    return xr.Dataset(
        {
            "level": (("draw", "year", "sex_age"), np.asarray(values)),
            "start": ("draw", np.full(stop - start, start)),
        },
        coords={"draw": np.arange(start, stop), "year": YEARS},
    )
