"""Tables of a finished run, from its paths (`stochpop.projection.sampled.PathProjection` chunks in a store).

Tables (tidy: one row per variable, dims and value; CSV and/or parquet as the spec says):
* quantiles: every indicator by year (and sex for e0) at the spec's quantiles;
* variants: SSB-style L/M/H of every indicator, as quantiles;
* population_quantiles: population by year, sex and age at the spec's quantiles;
* alternatives: indicators of each SSB alternative code
  (`stochpop.projection.alternatives.project_alternatives`).
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import xarray as xr

from stochpop.outputs.quantiles import draw_quantiles, quantiles, tidy, variants_of, write_table
from stochpop.results.integrity import IntegrityError
from stochpop.results.store import chunk_paths, open_results, step_reader, usable_cores

PLACE_DIMS = {"region", "municipality"}
"""Dims of regional variables, summarised by `outputs.regional`."""


def indicator_paths(paths: xr.Dataset) -> xr.Dataset:
    """The per-path national indicators of a run (everything but population by age and the regional
    variables), loaded into memory."""
    names = [
        name for name, v in paths.data_vars.items() if "age" not in v.dims and not PLACE_DIMS & set(v.dims)
    ]
    return paths[names].load(scheduler="threads")  # many small reads: here, not through a cluster


QUANTILE_MEMORY_BYTES = 2 * 2**30
"""Memory the population's quantiles may use at once; a year of draws takes about 6x its size while its
quantiles are found (the values, their bucket numbers, the candidates)."""


def population_quantiles(store: Path, q: Sequence[float]) -> xr.Dataset:
    """Quantiles of population (year, sex, age) over the draws of the run in `store`: one year at a time,
    read straight from the chunks (`stochpop.results.store.step_reader`), the years spread over a thread per
    usable core (NumPy releases the GIL) as far as `QUANTILE_MEMORY_BYTES` allows."""
    chunks = chunk_paths(store)
    first_chunk = xr.open_zarr(chunks[0], consolidated=None)["population"]
    read = step_reader(store, "population")

    def year(index: int) -> np.ndarray:
        return draw_quantiles(read(index), q, axis=0)  # (quantile, sex, age)

    year_bytes = len(chunks) * first_chunk.isel(year=0).nbytes  # at most: the last chunk may be shorter
    threads = max(1, min(usable_cores(), QUANTILE_MEMORY_BYTES // (6 * year_bytes)))
    with ThreadPoolExecutor(threads) as pool:
        by_year = np.stack(list(pool.map(year, range(first_chunk.sizes["year"]))), axis=1)
    template = first_chunk.isel(draw=0, drop=True).expand_dims(quantile=list(q))
    return template.copy(data=by_year).to_dataset()


def write_tables(
    store: Path,
    alternatives: xr.Dataset | None,
    out: Path,
    q: Sequence[float],
    variant_levels: dict[str, float],
    formats: Sequence[str],
) -> list[Path]:
    """Write the tables of the run in `store` into `out` (created); returns the files written.
    IntegrityError, before anything is written, if a stored path variable holds NaN (none can)."""
    out.mkdir(parents=True, exist_ok=True)
    levels = sorted({*q, *variant_levels.values()})
    with ThreadPoolExecutor(1) as background:  # the population's quantiles while the indicators load
        population = background.submit(population_quantiles, store, q)
        per_path = quantiles(indicator_paths(open_results(store)), levels)  # quantiles and variants at once
        tables = {
            "quantiles": per_path.sel(quantile=list(q)),
            "variants": variants_of(per_path, variant_levels),
            "population_quantiles": population.result(),
        }
    for name, table in tables.items():
        with_nan = [variable for variable, values in table.data_vars.items() if values.isnull().any()]
        if with_nan:  # no path variable can be NaN: a value was lost, not computed
            raise IntegrityError(f"{store}: NaN in the stored paths of {with_nan} ({name}); nothing written")
    if alternatives is not None:
        tables["alternatives"] = alternatives
    written = []
    for name, table in tables.items():
        written += write_table(tidy(table), out / name, formats)
    return written
