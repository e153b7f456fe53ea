"""Rate sets (with or without a `draw` dim) through the kernel into labelled results."""

import jax
import numpy as np
import xarray as xr

from stochpop.projection.kernel import DEFAULT_CONFIG, KernelConfig, project
from stochpop.projection.rate_sets import to_kernel_ages, to_kernel_rates
from stochpop.projection.results import projection_dataset


def check_rates(rates: xr.Dataset, years: np.ndarray) -> xr.Dataset:
    """The rate set for event `years`, or a ValueError naming what is missing or not finite."""
    missing = np.setdiff1d(years, rates["year"].values)
    if missing.size:
        raise ValueError(f"rates: no rates for event years {missing.tolist()}")
    rates = rates.sel(year=years)
    for name, variable in rates.data_vars.items():
        if not np.isfinite(variable.values).all():
            raise ValueError(f"rates: {name} has missing or infinite values")
    return rates


def project_rates(
    initial: xr.DataArray,
    rates: xr.Dataset,
    jump_off: int,
    horizon: int,
    config: KernelConfig = DEFAULT_CONFIG,
) -> xr.Dataset:
    """Project the 1 January `jump_off` stock `initial` (sex, age) with `rates` for `horizon` years, in
    double precision (sampled paths run in float32 through `simulation.simulate_paths`).

    Dims of `rates` other than year/sex/age/mother_age (e.g. `draw`) become batch dims of the results
    (`results.projection_dataset`, with the rates' labels); the initial stock is shared by every path.
    """
    rates = check_rates(rates, np.arange(jump_off, jump_off + horizon))
    batch_dims = tuple(d for d in rates.dims if d not in ("year", "sex", "age", "mother_age"))
    batch_shape = tuple(rates.sizes[d] for d in batch_dims)
    stock = to_kernel_ages(initial).transpose("sex", "age").values.astype(np.float64)
    with jax.enable_x64(True):
        kernel_rates = jax.tree.map(
            lambda a: a.astype(np.float64), to_kernel_rates(rates, batch_dims=batch_dims)
        )
        populations, flows = project(
            np.broadcast_to(stock, (*batch_shape, *stock.shape)), kernel_rates, config=config
        )
    result = projection_dataset(stock, populations, flows, jump_off, batch_dims)
    return result.assign_coords({d: rates[d] for d in batch_dims if d in rates.coords})
