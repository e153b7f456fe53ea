"""A regional run end to end on Norway's data (small fits, few paths): fit, project, summarise, plot. The
stored counties sum to the national population of every path, the municipalities to their county, the
tables hold what the paths say, and the run directory proves it is whole."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import stochpop
from stochpop.components.fitting import FitWarning
from stochpop.regions.projection import by_age_group
from stochpop.results.store import open_results
from stochpop.run.regions import division
from stochpop.run.spec import parse_spec

SPEC = """
[data]
source = "hmd-hfd"
path = "{data}/norway"
[projection]
jump_off = 2024
horizon = 6
[paths]
n = 12
chunk_size = 6
workers = 0
[fit]
chains = 2
warmup = 60
samples = 60
max_tree_depth = 5  # the wiring is tested, not the fits (the internal fit took 450 s at depth 10)
[mortality]
jump_off = "observed"
[regions]
division = "county"
path = "{data}/norway/regional"
municipalities = true
probability_years = [2027, 2030]
[outputs]
alternatives = []
plot_formats = ["png"]
table_formats = ["csv"]
"""


@pytest.mark.slow
def test_a_county_run_end_to_end(shared_data, tmp_path) -> None:
    spec = parse_spec(SPEC.format(data=shared_data), "regional.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FitWarning)  # 60 draws do not mix; the wiring is tested here
        run = stochpop.fit(spec, tmp_path / "run")
    fits = json.loads(run.fits_file.read_text())
    assert set(fits["regions"]) == {
        "fertility_levels",
        "mortality_levels",
        "international",
        "internal",
        "municipal",
    }
    stochpop.project(run)
    assert stochpop.verify(run) == []
    stochpop.summarise(run)
    stochpop.plot(run)

    paths = open_results(run.store)
    regional = paths["regional_population"].load()
    assert regional.sizes["region"] == 15 and (regional >= 0).all()
    national = by_age_group(paths["population"].values)
    np.testing.assert_allclose(regional.sum("region").values, national, rtol=1e-5, atol=1.0)
    municipal = paths["municipal_population"].load()
    region_of = division(spec).region_of  # the municipalities' regions in the run's regional model
    labels = xr.DataArray(
        region_of.loc[municipal["municipality"].values].values, dims="municipality", name="group"
    )
    by_region = municipal.groupby(labels).sum("municipality")
    totals = regional.sum(["sex", "age_group"]).transpose("year", "draw", "region")
    np.testing.assert_allclose(by_region.transpose("year", "draw", "group").values, totals.values, rtol=1e-5)

    table = pd.read_csv(run.tables / "regional_quantiles.csv", dtype={"region": str})
    oslo = table[(table["variable"] == "total") & (table["region"] == "03") & (table["quantile"] == 0.5)]
    by_hand = regional.sel(region="03").sum(["sex", "age_group"]).median("draw")
    np.testing.assert_allclose(oslo.sort_values("year")["value"].values, by_hand.values, rtol=1e-5)
    probabilities = pd.read_csv(run.tables / "regional_probabilities.csv")
    assert set(probabilities["year"]) == {2027, 2030} and probabilities["value"].between(0, 1).all()
    assert (run.tables / "municipal_quantiles.csv").is_file()
    assert (run.figures / "fan_regions.png").is_file()
