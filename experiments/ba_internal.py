"""The linear destinations of `regions.internal_model` (`fit_internal(pair_effects=False)`, SVI) on SSB's
159 labour-market (BA) regions, 2006-2023 (issue #15).

    .venv/bin/python experiments/ba_internal.py

Prints the fit's wall time, gamma, kappa (`DIVISION_FEATURES`) and other scales (10/50/90%), the
gross counts' median |error| at the posterior median (the counties', and the yearly counts of the Telemark
regions of one municipality), the moves between regions by year, and the
share of the last year's that stay in the region's majority county.
"""

import sys
import time
import warnings

import numpy as np

from stochpop.components.fitting import FitWarning
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.regions.division_inputs import (
    DIVISION_FEATURES,
    division_inputs,
    division_internal_data,
    placed_persons,
    region_counties,
    telemark_region_rows,
)
from stochpop.regions.divisions import load_division
from stochpop.regions.internal_model import InternalData, fit_internal, fitted_flows


def gross_error(data: InternalData, pair_moves: np.ndarray, last: int) -> tuple[float, float]:
    """Median |expected / count - 1| over the absolute gross counts of all ages and both sexes, the
    counties' and the `last` rows' (the Telemark regions' yearly counts, `telemark_region_rows`) apart;
    pair_moves (year, region, destination) the posterior median's."""
    gross = data.gross
    expected = np.einsum("nrj,nrj->n", gross.pairs, pair_moves[gross.year])
    error = np.abs(expected / gross.moves - 1)
    absolute = ~gross.relative & (gross.cells.sum((1, 2)) == gross.cells[0].size)
    counties = absolute & (np.arange(gross.moves.size) < gross.moves.size - last)
    return float(np.median(error[counties])), float(np.median(error[-last:])) if last else np.nan


def main() -> None:
    root = shared_data_dir()
    if root is None:
        sys.exit(MISSING_SHARED_DATA)
    folder = root / "norway" / "regional"
    division = load_division("ba", folder)
    years = np.arange(2006, 2024)
    start = time.perf_counter()
    inputs = division_inputs(load_country(root / "norway"), folder, division, years)
    data = division_internal_data(inputs, folder, division)
    print(f"BA inputs and internal data: {time.perf_counter() - start:.0f} s, {data.gross.moves.size} counts")
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = fit_internal(data, 1, pair_effects=False, age_profiles=False)
    print(f"BA fit: {time.perf_counter() - start:.0f} s")
    posterior = idata["posterior"]
    quantiles = {
        name: np.round(posterior[name].quantile([0.1, 0.5, 0.9], ("chain", "draw")).values, 3)
        for name in ("gamma", "kappa", "mu", "sigma_net", "cv", "tau_d", "s_N", "phi_N", "tau_e")
    }
    for feature, q in zip(DIVISION_FEATURES, quantiles.pop("kappa").T, strict=True):
        print(f"  kappa, {feature}: {q.tolist()}")
    for name, q in quantiles.items():
        print(f"  {name}: {q.tolist()}")
    pairs = fitted_flows(idata)["pair_moves"].sel(quantile=0.5).values
    weights = region_counties(division, folder)
    placed = placed_persons(division, folder)
    telemark = telemark_region_rows(placed, weights["region"].values, data.years, data.ages, folder)
    counties, regions = gross_error(data, pairs, len(telemark))
    print(
        f"  gross counts' median |error|: the counties' {counties:.3f}, the {len(telemark)} counts of the "
        f"Telemark regions of one municipality {regions:.3f}"
    )
    majority = weights["majority"].values
    same = majority[:, None] == majority
    moves = pairs.sum((1, 2)) / 1e3
    print(
        "  moves between regions by year (thousands):",
        " ".join(f"{y} {m:.0f}" for y, m in zip(years, moves, strict=True)),
    )
    last = pairs[-1]
    share = (last * same).sum() / last.sum()
    print(f"  {years[-1]}: share of the moves between regions in the region's county {share:.3f}")


if __name__ == "__main__":
    main()
