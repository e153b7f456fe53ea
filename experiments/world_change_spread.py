"""How far TFR and e0 move in 5 and 10 years across countries (issue #13): the spread a calibrated forecast's
intervals should have, learnt from UN WPP 2024's estimates of every country, not from Norway's years.

    python experiments/world_change_spread.py [--last-year 2023] [--horizons 5,10]

For every country and year t with t + h <= --last-year (nothing later is read), in a comparable regime:
* TFR: post-transition (TFR below 2.1 at t and below 2.6 ten years earlier); the change TFR(t+h) - TFR(t),
  births per woman (the fertility model reverts to a level, so the plain change is its forecast error's
  scale around a forecast of no change);
* e0 by sex: high life expectancy (men at least 70 years at t, women 76); the departure from the trend of
  the 25 years before t, e0(t+h) - e0(t) - h (e0(t) - e0(t-25)) / 25, years (a drift fitted on a 25-year
  window, as the back-tests fit, is the forecast this departure is the error of).
Prints n, countries, the median and the widths of the central 80% and 95% ranges beside Norway's own
departures (WPP's Norway, which a Norway forecast would have had to cover). The README's calibration
section compares these widths with the model's interval widths in the Norway back-test.
"""

import argparse

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.components.mortality.world_drift import e0_departures
from stochpop.data.wpp import read_wpp_countries, shared_world_folder

NORWAY = 578
TFR_POST_TRANSITION = (2.1, 2.6)
"""TFR below 2.1 at t and below 2.6 ten years before: countries past their fertility transition."""
E0_FILES = {"men": "e0M.txt", "women": "e0F.txt"}
E0_HIGH = {"men": 70.0, "women": 76.0}
"""e0 at t of at least this (years): countries where mortality falls at old ages, as in Norway since 1960."""


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--last-year", type=int, default=2023, help="no WPP year after this is used")
    parser.add_argument("--horizons", default="5,10", help="comma-separated years ahead")
    return parser.parse_args()


def tfr_changes(tfr: xr.DataArray, horizon: int, last_year: int) -> xr.DataArray:
    """TFR(t + h) - TFR(t) (country, year t) where the country is post-transition at t; NaN elsewhere."""
    now = tfr.sel(year=slice(None, last_year - horizon))
    later = tfr.shift(year=-horizon).sel(year=now["year"])
    before = tfr.shift(year=10).sel(year=now["year"])
    low, earlier = TFR_POST_TRANSITION
    return (later - now).where((now < low) & (before < earlier))


def spread(values: xr.DataArray) -> dict[str, float]:
    """n, countries, median and the widths of the central 80% and 95% ranges of the non-missing values."""
    flat = values.stack(case=("country", "year")).dropna("case")
    q = np.quantile(flat.values, [0.025, 0.1, 0.5, 0.9, 0.975])
    return {
        "n": flat.size,
        "countries": np.unique(flat["country"].values).size,
        "median": q[2],
        "80% width": q[3] - q[1],
        "95% width": q[4] - q[0],
        "10%": q[1],
        "90%": q[3],
    }


def main() -> None:
    args = arguments()
    world = shared_world_folder()
    locations = world / "UNlocations.txt"
    tfr = read_wpp_countries(world / "tfr.txt", locations)
    e0 = {sex: read_wpp_countries(world / file, locations) for sex, file in E0_FILES.items()}
    rows, norway = [], {}
    for horizon in (int(h) for h in args.horizons.split(",")):
        changes = {"TFR": tfr_changes(tfr, horizon, args.last_year)}
        for sex, values in e0.items():
            changes[f"e0 {sex}"] = e0_departures(values, horizon, args.last_year, E0_HIGH[sex])
        for target, values in changes.items():
            rows.append({"target": target, "horizon": horizon, **spread(values)})
            own = values.sel(country=NORWAY).dropna("year")
            norway[(target, horizon)] = own.sel(year=own["year"] % 4 == 2).to_series().round(2).to_dict()
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(f"Changes over h years across WPP 2024 countries, years to {args.last_year}:")
        print(pd.DataFrame(rows).set_index(["target", "horizon"]))
        print("\nNorway's own (t: value):")
        for (target, horizon), values in norway.items():
            print(f"  {target}, h={horizon}: {values}")


if __name__ == "__main__":
    main()
