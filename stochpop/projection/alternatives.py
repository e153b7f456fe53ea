"""SSB's deterministic alternatives (reference Table 4.2) rebuilt from sampled rate paths.

A code has four letters: fertility, life expectancy, internal migration, immigration. L/M/H take the
component's quantile path (default 10/50/90%) cell by cell over the draws; for life expectancy H means
*low* mortality (the 10% quantile of death rates). K holds the medium path's first projection year
constant; 0 sets every migration variable of the rate set (net, or immigration and emigration) to zero, so
all codes share one set of variables. The national model has no internal migration, so its letter must be
M or 0 (both mean none here); immigration 0 gives zero net migration (MMM0, MM00).

The result is a rate set without a `draw` dim, run as a line through the same projection as the paths.
"""

from collections.abc import Sequence

import pandas as pd
import xarray as xr

from stochpop.conventions import DEFAULT_VARIANT_QUANTILES, is_alternative_code
from stochpop.outputs.quantiles import quantiles
from stochpop.projection.lines import project_lines
from stochpop.projection.rate_sets import MIGRATION_VARIABLES
from stochpop.projection.results import BY_SEX
from stochpop.projection.sampled import PathProjection


def letter_paths(rate_paths: xr.Dataset, levels: dict[str, float] | None = None) -> xr.Dataset:
    """Each rate variable's path per letter (dim `letter`: L, M, H, K) from rate paths with a `draw` dim:
    cell-wise quantiles over the draws at `levels` (mortality at 1 - level: high life expectancy is low
    mortality), K the M path's first year held. Computed once, shared by every code."""
    levels = DEFAULT_VARIANT_QUANTILES if levels is None else levels
    out = {}
    for name, paths in rate_paths.data_vars.items():
        q = [1 - levels[x] if name == "mortality" else levels[x] for x in "LMH"]
        by_letter = quantiles(paths, q)[name].assign_coords(quantile=list("LMH")).rename(quantile="letter")
        held = by_letter.sel(letter=["M"]).isel(year=[0]).assign_coords(letter=["K"])
        held = held.reindex(year=paths["year"], method="ffill")
        out[name] = xr.concat([by_letter, held], dim="letter")
    return xr.Dataset(out)


def alternative_rates(letters: xr.Dataset, code: str) -> xr.Dataset:
    """The rate set of alternative `code` (e.g. "LHML") from `letter_paths`."""
    code = code.upper()
    if not is_alternative_code(code):
        raise ValueError(
            f"alternative {code!r}: four letters (fertility, life expectancy, internal migration,"
            " immigration); fertility and life expectancy L/M/H/K, internal migration M/0,"
            " immigration L/M/H/K/0"
        )
    fertility, life, immigration = code[0], code[1], code[3]
    out = xr.Dataset(
        {
            "fertility": letters["fertility"].sel(letter=fertility, drop=True),
            "mortality": letters["mortality"].sel(letter=life, drop=True),
        }
    )
    for name in (name for name in MIGRATION_VARIABLES if name in letters):
        if immigration == "0":
            out[name] = xr.zeros_like(letters[name].sel(letter="M", drop=True))
        else:
            # Emigration probabilities stay at the medium path: the letter is about immigration.
            out[name] = letters[name].sel(letter="M" if name == "emigration" else immigration, drop=True)
    return out


def project_alternatives(
    projection: PathProjection, codes: Sequence[str], n_paths: int, levels: dict[str, float]
) -> xr.Dataset:
    """SSB's deterministic alternatives (`alternative_rates`) built from the rate quantile paths
    (`letter_paths`) of paths 0..n_paths-1, all run at once as lines (`lines.project_lines`, dim
    `alternative`): the population's indicators by year, the flows' totals and net migration by event
    year."""
    letters = letter_paths(projection.rates(n_paths), levels)
    rates = xr.concat(
        [alternative_rates(letters, code) for code in codes], dim=pd.Index(list(codes), name="alternative")
    )
    lines = project_lines(projection.initial, rates, projection.jump_off, projection.horizon)
    return lines.drop_vars(["population", *BY_SEX])
