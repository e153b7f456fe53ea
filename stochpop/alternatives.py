"""SSB's deterministic alternatives (reference Table 4.2) rebuilt from sampled rate paths.

A code has four letters: fertility, life expectancy, internal migration, immigration. L/M/H take the
component's quantile path (default 10/50/90%) cell by cell over the draws; for life expectancy H means
*low* mortality (the 10% quantile of death rates). K holds the medium path's first projection year
constant; 0 sets migration to zero. The national model has no internal migration, so its letter must be
M or 0 (both mean none here); immigration 0 gives zero net migration (MMM0, MM00).

The result is a rate set without a `draw` dim, run through the same kernel as the paths.
"""

import xarray as xr

from stochpop.summary import DEFAULT_VARIANT_QUANTILES

# fmt: off
TABLE_4_2 = ("MMMM", "LLML", "HHMH", "HMMM", "LMMM", "MHMM", "MLMM", "MKMM", "MMMH", "MMML", "MMMK", "LHML",
             "HLMH", "MMM0", "MM00")
# fmt: on
"""The 15 alternatives. The reference text prints high immigration as "MMHM", which by the letter order
(and the national model's single internal-migration level) can only be MMMH."""
MIGRATION_VARIABLES = ("net_migration", "immigration", "emigration")


def _level(paths: xr.DataArray, letter: str, levels: dict[str, float], invert: bool = False) -> xr.DataArray:
    """The path for one letter: a cell-wise quantile over draws, or the medium path's first year held."""
    if letter == "K":
        medium = paths.quantile(levels["M"], dim="draw").drop_vars("quantile")
        return medium.isel(year=0, drop=True).expand_dims(year=paths["year"]).transpose(*medium.dims)
    q = levels[letter]
    return paths.quantile(1 - q if invert else q, dim="draw").drop_vars("quantile")


def alternative_rates(
    rate_paths: xr.Dataset, code: str, levels: dict[str, float] | None = None
) -> xr.Dataset:
    """The rate set of alternative `code` (e.g. "LHML") from kernel rate paths with a `draw` dim."""
    levels = DEFAULT_VARIANT_QUANTILES if levels is None else levels
    code = code.upper()
    valid = {0: "LMHK", 1: "LMHK", 2: "M0", 3: "LMHK0"}
    if len(code) != 4 or any(code[i] not in allowed for i, allowed in valid.items()):
        raise ValueError(
            f"alternative {code!r}: four letters (fertility, life expectancy, internal migration,"
            " immigration); fertility and life expectancy L/M/H/K, internal migration M/0,"
            " immigration L/M/H/K/0"
        )
    fertility, life, _, immigration = code
    out = xr.Dataset(
        {
            "fertility": _level(rate_paths["fertility"], fertility, levels),
            "mortality": _level(rate_paths["mortality"], life, levels, invert=True),
        }
    )
    if immigration == "0":
        template = rate_paths["mortality"].isel(draw=0, drop=True)
        out["net_migration"] = xr.zeros_like(template)
        return out
    for name in MIGRATION_VARIABLES:
        if name in rate_paths:
            # Emigration probabilities stay at the medium path: the letter is about immigration.
            out[name] = _level(rate_paths[name], "M" if name == "emigration" else immigration, levels)
    return out
