"""SSB's 2018 county table beside ours (issue #15, check 5): jump-off 1 January 2018 (national and regional
fits on the data to 2017), the counties projected to 1 January 2040, our medians and 80% intervals beside
SSB's main alternative (MMMM) of reference Table 2.2, the 18 counties of 2018 aggregated to the 15 of 2024.

    python experiments/ssb2018_counties.py [--out out/county_backtest] [--paths 1000]

Runs with the county back-test's spec (out/spec.json of experiments/county_backtest.py) and its jump-off
2018 fits (jump_offs/2018; fitted there if absent: the same fits the back-test needs). Table 2.2 counts the
population on 2018 borders, ours on 2024 borders (municipalities moved between counties since, e.g.
Hurum and Røyken into Asker, Akershus; Jevnaker and Lunner out of Oppland), so beside the levels the table
compares growth 2018-2040 in per cent (SSB: its 2040 over its registered 2018; ours: each path's 2040 over
its 2018 stock) and SSB's 2040 moved to 2024 borders in proportion to the 2018 border difference.
Also printed: the held-rates baseline (every regional part held at 2017: intervals from the national paths
only) and whether SSB's figures lie inside our 80% intervals.

Measured (1000 paths, 54 s with the back-test's fits): Norway 2040 median 6.08 million, 80% 5.60-6.58,
SSB 6.06. SSB's 2040 lies inside our 80% interval in all 15 counties (as published and moved to 2024
borders), and so does its growth; the intervals are wide (80% about +-8% of the median in 2040 for
Norway, +-10 to 16% by county). Where the medians part: Rogaland 523 000 against SSB's 537 000 (growth
10% against 13%), Vestland 697 000 against 712 000, Troms 186 000 against 177 000, Trøndelag 531 000
against 520 000 (524 000 on 2024 borders). The 2018 border difference is zero for Oslo, Rogaland,
Telemark, Agder and Finnmark (Table 2.2's registered figures equal ours to the person), +48 400 for
Akershus, -25 200 Buskerud, -15 800 Innlandet. The held baseline keeps 2017's low migration into
Rogaland (median growth 4%).
"""

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import stochpop
from stochpop.backtest.regional import (
    HELD,
    MODEL,
    county_jump_off_spec,
    county_projection,
    fit_jump_off,
    fit_seconds,
    held_projection,
)
from stochpop.backtest.run import backtest_spec, jump_off_directory
from stochpop.data.norway import MISSING_SHARED_DATA, shared_data_dir
from stochpop.regions.divisions import regional_population
from stochpop.run.regions import division, regional_folder

JUMP_OFF, YEAR = 2018, 2040
TABLE_2_2 = {
    # county of 2018: (registered 1 January 2018, MMMM 1 January 2040, county code of 2024)
    "Østfold": (295_420, 347_000, "31"),
    "Akershus": (614_026, 749_000, "32"),
    "Oslo": (673_469, 816_000, "03"),
    "Hedmark": (196_966, 216_000, "34"),
    "Oppland": (189_870, 206_000, "34"),
    "Buskerud": (281_769, 328_000, "33"),
    "Vestfold": (249_058, 288_000, "39"),
    "Telemark": (173_391, 186_000, "40"),
    "Aust-Agder": (117_222, 136_000, "42"),
    "Vest-Agder": (186_532, 219_000, "42"),
    "Rogaland": (473_526, 537_000, "11"),
    "Hordaland": (522_539, 599_000, "46"),
    "Sogn og Fjordane": (110_230, 113_000, "46"),
    "Møre og Romsdal": (266_856, 288_000, "15"),
    "Trøndelag": (458_744, 520_000, "50"),
    "Nordland": (243_335, 254_000, "18"),
    "Troms": (166_499, 177_000, "55"),
    "Finnmark": (76_167, 78_000, "56"),
}
"""Reference ssb-2018-projections.txt, Table 2.2 (total population in the counties, registered 2018 and
projected 2040, main alternative MMMM; 2040 rounded to thousands by SSB). Norway: 5 295 619 and 6 056 000."""
NORWAY_2018, NORWAY_2040 = 5_295_619, 6_056_000


def ssb_on_2024_counties() -> pd.DataFrame:
    """Table 2.2 summed to the 2024 counties: ssb_2018, ssb_2040 by county code."""
    rows = pd.DataFrame(TABLE_2_2, index=["ssb_2018", "ssb_2040", "region"]).T
    return rows.groupby("region")[["ssb_2018", "ssb_2040"]].sum().astype(float)


def county_paths(out: Path, paths: int) -> dict[str, xr.DataArray]:
    """Each method's county totals (draw, year [2018, 2040], region) of `paths` paths from jump-off 2018."""
    spec = backtest_spec(out)
    data = stochpop.load_data(spec)
    known = data.known_at(JUMP_OFF)
    run = county_jump_off_spec(spec, known, JUMP_OFF, YEAR - JUMP_OFF)
    directory = jump_off_directory(out, JUMP_OFF)
    if fit_seconds(run, directory) is None:
        directory.mkdir(parents=True, exist_ok=True)
        fit_jump_off(run, known, directory)
    projection = county_projection(run, known, directory)
    chunk = spec.paths.chunk_size
    totals = {}
    for method, project in ((MODEL, projection), (HELD, held_projection(projection))):
        chunks = [
            project(start, min(start + chunk, paths))["regional_population"]
            .sel(year=[JUMP_OFF, YEAR])
            .sum(["sex", "age_group"], dtype=np.float64)
            for start in range(0, paths, chunk)
        ]
        totals[method] = xr.concat(chunks, dim="draw")
    return totals


def comparison(
    totals: dict[str, xr.DataArray], registered: xr.DataArray, names: dict[str, str]
) -> pd.DataFrame:
    """Per 2024 county and Norway: SSB beside our 2040 median and 80% interval, growth 2018-2040 (%)."""
    ssb = ssb_on_2024_counties()
    ssb.loc["Norway"] = (NORWAY_2018, NORWAY_2040)
    rows = []
    for method, paths in totals.items():
        paths = xr.concat([paths, paths.sum("region").expand_dims(region=["Norway"])], dim="region")
        growth = 100 * (paths.sel(year=YEAR) / paths.sel(year=JUMP_OFF) - 1)
        level = paths.sel(year=YEAR).quantile([0.1, 0.5, 0.9], "draw")
        change = growth.quantile([0.1, 0.5, 0.9], "draw")
        for region in paths["region"].values:
            rows.append(
                {
                    "method": method,
                    "region": region,
                    "p10": float(level.sel(region=region, quantile=0.1)),
                    "median": float(level.sel(region=region, quantile=0.5)),
                    "p90": float(level.sel(region=region, quantile=0.9)),
                    "growth_p10": float(change.sel(region=region, quantile=0.1)),
                    "growth_median": float(change.sel(region=region, quantile=0.5)),
                    "growth_p90": float(change.sel(region=region, quantile=0.9)),
                }
            )
    ours = pd.DataFrame(rows).pivot(index="region", columns="method")
    ours.columns = [name if method == MODEL else f"{name}_{method}" for name, method in ours.columns]
    table = ssb.join(ours)
    ours_2018 = registered.sel(year=JUMP_OFF).sum(["sex", "age"])
    table["ours_2018"] = [
        float(ours_2018.sum()) if code == "Norway" else float(ours_2018.sel(region=code))
        for code in table.index
    ]
    table["border_difference"] = table["ours_2018"] - table["ssb_2018"]
    table["ssb_growth"] = 100 * (table["ssb_2040"] / table["ssb_2018"] - 1)
    table["ssb_2040_on_2024_borders"] = table["ssb_2040"] * table["ours_2018"] / table["ssb_2018"]
    table["ssb_2040_in_80"] = (table["p10"] <= table["ssb_2040"]) & (table["ssb_2040"] <= table["p90"])
    table["moved_in_80"] = (table["p10"] <= table["ssb_2040_on_2024_borders"]) & (
        table["ssb_2040_on_2024_borders"] <= table["p90"]
    )
    table["growth_in_80"] = (table["growth_p10"] <= table["ssb_growth"]) & (
        table["ssb_growth"] <= table["growth_p90"]
    )
    table.insert(0, "name", [names.get(code, code).split("-")[0] for code in table.index])
    return table.reset_index(names="region")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/county_backtest")
    parser.add_argument("--paths", type=int, default=1000)
    args = parser.parse_args()
    if shared_data_dir() is None:
        raise SystemExit(MISSING_SHARED_DATA)
    out = Path(args.out)
    spec = backtest_spec(out)
    d = division(spec)
    registered = regional_population(d, regional_folder(spec))
    table = comparison(county_paths(out, args.paths), registered, d.names)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "tables" / "ssb2018_counties.csv", index=False, float_format="%.6g")
    pd.set_option("display.width", 250, "display.max_columns", 40)
    print(
        f"1 January {YEAR} from jump-off {JUMP_OFF} ({args.paths} paths), thousands; growth 2018-{YEAR} in %"
    )
    persons = ["ssb_2018", "ours_2018", "border_difference", "ssb_2040", "ssb_2040_on_2024_borders"]
    persons += ["p10", "median", "p90", f"p10_{HELD}", f"median_{HELD}", f"p90_{HELD}"]
    thousands = (table[persons] / 1000).round(1)
    print(
        table[["name"]].join(thousands).join(table[["ssb_2040_in_80", "moved_in_80"]]).to_string(index=False)
    )
    growth = ["ssb_growth", "growth_p10", "growth_median", "growth_p90"]
    growth += [f"growth_p10_{HELD}", f"growth_median_{HELD}", f"growth_p90_{HELD}", "growth_in_80"]
    print(table[["name", *growth]].round(1).to_string(index=False))
    counties = table[table["region"] != "Norway"]
    inside = {
        column: int(counties[column].sum()) for column in ("ssb_2040_in_80", "moved_in_80", "growth_in_80")
    }
    print(
        f"of {len(counties)} counties, SSB's 2040 inside our 80% interval: {inside['ssb_2040_in_80']} as "
        f"published, {inside['moved_in_80']} moved to 2024 borders; SSB's growth inside our 80% growth "
        f"interval: {inside['growth_in_80']}"
    )


if __name__ == "__main__":
    main()
