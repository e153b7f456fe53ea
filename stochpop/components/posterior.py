"""Saved posteriors: a fit written to netCDF and read back, so a projection need not refit."""

from functools import lru_cache
from pathlib import Path

import arviz as az


def save_posterior(idata: az.InferenceData, path: str | Path) -> Path:
    """Write a fit to netCDF (all groups) so a projection need not refit: through a `.partial` file beside
    it (its folder created), so `path` never holds a partial fit."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_suffix(".partial")
    idata.to_netcdf(str(staged))
    staged.replace(path)
    return path


def load_posterior(path: str | Path) -> az.InferenceData:
    """Reload a fit written by `save_posterior`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved posterior")
    idata = az.from_netcdf(str(path))
    for group in idata.groups():
        getattr(idata, group).load()  # read once, not lazily at every forecast
    return idata


@lru_cache(maxsize=16)
def cached_posterior(path: str) -> az.InferenceData:
    """A saved posterior, read once per process (Dask workers reuse it across chunks)."""
    return load_posterior(path)
