"""Internal migration as a Bayesian model (issue #15, item 2): Greenland's registered flows recovered with
them hidden, and Norway's 15 counties fitted on what the data hold.

Prints, for each fit, its run time (wall and CPU) and diagnostics, then:
* Greenland 2011-2020, the regional flows hidden (gross information: the national out-moves by sex and
  age group of every year, then of 2011 only): gross out- and in-moves by region and year against the
  registered ones (posterior median's error, mean absolute % by region, coverage of the 80% and 95%
  intervals), the levels l, w beside the registered out-rate per person at risk;
* Norway 2006-2023 (+ 2 forecast years): levels, national level L, pair-effect features, allocation
  errors b, the schedule, flows against the partial county matrices 2006-2011 (mean absolute % error,
  coverage), the gross components of 2008 and 2011, Telemark's row and column of 2021, and the landsdel
  matrices of 2000-2004 (not fitted: four years before the first fitted year) against the model's 2006
  flows between landsdeler (destination shares off the diagonal).

    python experiments/internal_migration.py [warmup samples]

With the counties' age profiles of leaving the Norway fit at the default 300 + 300 reaches R-hat 1.15
(chains started at the prior medians; 2.29 with one chain stuck from NumPyro's default start:
`regions.internal_model`'s docstring); pass 500 500 as the shipped spec.
"""

import sys
import time
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.components.fitting import FitWarning, read_diagnostics
from stochpop.components.settings import FitSettings
from stochpop.data.greenland import load_greenland
from stochpop.data.norway import MISSING_SHARED_DATA, load_country, shared_data_dir
from stochpop.data.regional import read_landsdel_moves
from stochpop.regions.accounts import to_end_of_year
from stochpop.regions.internal_model import (
    LANDSDEL_COUNTIES,
    InternalData,
    county_internal_data,
    fit_internal,
    fitted_flows,
    greenland_internal_data,
)
from stochpop.regions.norway_counties import county_inputs

LANDSDEL_FILE = "DERIVED_ssb_web_od_matrix_landsdel_2000_2001_2003_2004.csv"


def timed_fit(data: InternalData, horizon: int, settings: FitSettings):
    wall, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)
        idata = fit_internal(data, horizon, settings)
    print(
        f"fit: {time.perf_counter() - wall:.0f} s wall, {time.process_time() - cpu:.0f} s CPU; "
        f"{read_diagnostics(idata)}"
    )
    return idata


def interval(posterior: xr.DataArray, dims: tuple[str, ...] = ("chain", "draw")) -> pd.DataFrame:
    q = posterior.quantile([0.1, 0.5, 0.9], dims)
    return q.to_pandas().T if q.ndim == 2 else q.to_pandas()


def recovery(name: str, fitted: xr.Dataset, registered: xr.DataArray) -> None:
    """Error and coverage of fitted region-year totals (quantile, year, region) against `registered`."""
    truth = registered.transpose("year", "region")
    median = fitted.sel(quantile=0.5)
    error = 100 * (median / truth - 1)
    table = pd.DataFrame(
        {
            "registered 2011-20": truth.sum("year").to_pandas(),
            "median 2011-20": median.sum("year").to_pandas(),
            "error of total %": (100 * (median.sum("year") / truth.sum("year") - 1)).to_pandas(),
            "mean |error| by year %": abs(error).mean("year").to_pandas(),
        }
    )
    print(f"\n{name}\n{table.round(1).to_string()}")
    cover = {
        level: float(((fitted.sel(quantile=lo) <= truth) & (truth <= fitted.sel(quantile=hi))).mean())
        for level, lo, hi in ((80, 0.1, 0.9), (95, 0.025, 0.975))
    }
    print(
        f"{name}: region-year mean |error| {float(abs(error).mean()):.1f}%, "
        f"max {float(abs(error).max()):.1f}%; coverage 80% {cover[80]:.2f}, 95% {cover[95]:.2f}"
    )


def greenland(folder, settings: FitSettings) -> None:
    account = load_greenland(folder / "greenland")
    out = to_end_of_year(account.internal_out)
    registered = {
        "out_moves": out.sum(["sex", "age"]),
        "in_moves": to_end_of_year(account.internal_in).sum(["sex", "age"]),
    }
    for label, years in (("every year", None), ("2011 only", [2011])):
        print(f"\n=== Greenland, national out-moves by sex and age group known in {label} ===")
        data = greenland_internal_data(account, years)
        idata = timed_fit(data, 1, settings)
        fitted = fitted_flows(idata)
        for name, truth in registered.items():
            recovery(f"Greenland {name}", fitted[name], truth)
        rate = (
            out.sum(["year", "sex", "age"])
            / xr.DataArray(data.aged, dims=("year", "region", "sex", "age"))
            .sum(["year", "sex", "age"])
            .values
        )
        posterior = idata["posterior"]
        levels = pd.DataFrame(
            {
                "l median": posterior["l"].median(("chain", "draw")).to_pandas(),
                "w median": posterior["w"].median(("chain", "draw")).to_pandas(),
                "registered log out-rate, centred": (np.log(rate) - np.log(rate).mean()).to_pandas(),
            }
        )
        print(f"\nGreenland levels ({label})\n{levels.round(3).to_string()}")


def norway(folder, settings: FitSettings) -> None:
    print("\n=== Norway's 15 counties, 2006-2023 ===")
    started = time.perf_counter()
    inputs = county_inputs(load_country(folder), folder / "regional")
    data = county_internal_data(inputs, folder / "regional")
    print(
        f"data in {time.perf_counter() - started:.0f} s: {len(data.gross.moves)} gross counts in years "
        f"{sorted(set(data.years[data.gross.year].tolist()))}, {data.net.shape[0]} years of net residuals"
    )
    idata = timed_fit(data, 2, settings)
    posterior = idata["posterior"]
    names = (
        "mu",
        "sigma_net",
        "cv",
        "log_c",
        "tau_c",
        "tau_d",
        "tau_k",
        "tau_b",
        "phi_L",
        "s_L",
        "phi_N",
        "s_N",
    )
    scalars = {name: posterior[name].quantile([0.1, 0.5, 0.9], ("chain", "draw")).values for name in names}
    print(pd.DataFrame(scalars, index=["10%", "50%", "90%"]).T.round(3).to_string())
    print(
        "kappa (same landsdel, log distance):", posterior["kappa"].median(("chain", "draw")).values.round(3)
    )
    for name in ("l", "w", "b"):
        print(f"\n{name} (10/50/90%)\n{interval(posterior[name]).round(3).T.to_string()}")
    print(f"\nnational level L (log, 10/50/90%)\n{interval(posterior['L']).round(3).T.to_string()}")
    schedule = np.exp(posterior["log_schedule"] + posterior["L"].sel(year=2023)).median(("chain", "draw"))
    ages = [0, 5, 10, 15, 18, 20, 22, 25, 30, 35, 40, 50, 60, 69, 80]
    table = schedule.sel(age=ages).to_pandas().round(4).to_string()
    print(f"\nschedule x exp(L 2023), moves per person at risk\n{table}")

    fitted = fitted_flows(idata)
    pairs = fitted["pair_moves"]
    gross = data.gross
    single = (gross.pairs.sum((1, 2)) == 1) & ~gross.relative
    index = np.array([np.argwhere(p)[0] for p in gross.pairs[single]])
    year = data.years[gross.year[single]]
    select = {
        "year": xr.DataArray(year),
        "region": xr.DataArray(data.regions[index[:, 0]]),
        "destination": xr.DataArray(data.regions[index[:, 1]]),
    }
    median, low, high = (pairs.sel(quantile=q).sel(select).values for q in (0.5, 0.1, 0.9))
    observed = gross.moves[single]
    error = 100 * (median / observed - 1)
    covered = (low <= observed) & (observed <= high)
    for label, chosen in (
        ("partial county matrices 2006-2011", year <= 2011),
        ("Telemark 2021", year == 2021),
    ):
        print(
            f"\n{label}: {chosen.sum()} pairs, median |error| {np.median(abs(error[chosen])):.1f}%, mean "
            f"{np.mean(abs(error[chosen])):.1f}%, 80% coverage {np.mean(covered[chosen]):.2f}"
        )
    totals = ~single & ~gross.relative
    for n in np.flatnonzero(totals):
        rows, cols = np.nonzero(gross.pairs[n])
        flow = "out" if len(set(rows)) == 1 else "in"
        region = data.regions[rows[0] if flow == "out" else cols[0]]
        name = "out_moves" if flow == "out" else "in_moves"
        value = fitted[name].sel(year=data.years[gross.year[n]], region=region)
        print(
            f"{data.years[gross.year[n]]} {region} {flow}: registered {gross.moves[n]:.0f}, median "
            f"{float(value.sel(quantile=0.5)):.0f} (80% {float(value.sel(quantile=0.1)):.0f}-"
            f"{float(value.sel(quantile=0.9)):.0f})"
        )

    landsdel = read_landsdel_moves(folder / "regional" / LANDSDEL_FILE)
    of = {code: name for name, codes in LANDSDEL_COUNTIES.items() for code in codes}
    model = pairs.sel(quantile=0.5, year=2006).to_pandas()
    model = model.groupby(lambda code: of[code]).sum().T.groupby(lambda code: of[code]).sum().T
    print("\nDestination shares between landsdeler (off the diagonal, rows sum to 100%): model 2006 vs 2004")
    for label, matrix in (("model 2006", model), ("registered 2004", landsdel.sel(year=2004).to_pandas())):
        matrix = matrix.loc[list(LANDSDEL_COUNTIES), list(LANDSDEL_COUNTIES)]
        off = matrix.where(~np.eye(len(matrix), dtype=bool), 0.0)
        print(f"{label}\n{(100 * off.div(off.sum(axis=1), axis=0)).round(1).to_string()}")
    model_share = model.loc[list(LANDSDEL_COUNTIES), list(LANDSDEL_COUNTIES)]
    registered = landsdel.sel(year=2004).to_pandas().loc[list(LANDSDEL_COUNTIES), list(LANDSDEL_COUNTIES)]
    shares = [m.where(~np.eye(7, dtype=bool), 0.0) for m in (model_share, registered)]
    shares = [100 * m.div(m.sum(axis=1), axis=0) for m in shares]
    difference = abs(shares[0] - shares[1]).values[~np.eye(7, dtype=bool)]
    print(f"mean |difference| {difference.mean():.1f} points")


def main() -> None:
    pd.set_option("display.width", 220)
    folder = shared_data_dir()
    if folder is None:
        raise SystemExit(MISSING_SHARED_DATA)
    warmup, samples = (int(a) for a in sys.argv[1:3]) if len(sys.argv) > 2 else (300, 300)
    settings = FitSettings(warmup=warmup, samples=samples)
    greenland(folder, settings)
    norway(folder / "norway", settings)


if __name__ == "__main__":
    main()
