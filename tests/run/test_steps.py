"""The `stochpop` command's steps on a fitted demo run: tables and figures against the stored paths."""

import json

import numpy as np
import pandas as pd
import pytest

from stochpop.cli import main
from stochpop.results.store import open_results


def test_cli_steps_write_tables_and_figures(demo_run_dir):
    assert main(["project", str(demo_run_dir), "--paths", "40", "--chunk-size", "20"]) == 0
    assert json.loads((demo_run_dir / "spec.json").read_text())["paths"]["chunk_size"] == 20
    assert main(["summary", str(demo_run_dir)]) == 0
    assert main(["plot", str(demo_run_dir)]) == 0
    stored = open_results(demo_run_dir / "paths.zarr")
    table = pd.read_parquet(demo_run_dir / "tables" / "quantiles.parquet")
    row = table.query("variable == 'total_population' and year == 2040 and quantile == 0.9")
    expected = np.quantile(stored["total_population"].sel(year=2040).values, 0.9)
    assert float(row["value"].iloc[0]) == pytest.approx(expected, rel=1e-6)
    population = pd.read_parquet(demo_run_dir / "tables" / "population_quantiles.parquet")
    cell = population.query("year == 2045 and sex == 'male' and age == 30").set_index("quantile")["value"]
    draws = stored["population"].sel(year=2045, sex="male", age=30).values
    np.testing.assert_array_equal(cell.to_numpy(), np.quantile(draws, cell.index.to_numpy()))
    csv = pd.read_csv(demo_run_dir / "tables" / "variants.csv")
    assert set(csv["variant"]) == {"L", "M", "H"}
    alternatives = pd.read_csv(demo_run_dir / "tables" / "alternatives.csv")
    assert set(alternatives["alternative"]) == {"MMMM", "LLML", "HHMH", "MKMM", "MMM0", "MM00"}
    figures = {p.name for p in (demo_run_dir / "figures").iterdir()}
    assert {"fan_overview.png", "fan_total_population.png", "fan_e0_male.png", "pyramid_2040.png"} <= figures


def test_project_without_fit_fails_cleanly(tmp_path, capsys):
    assert main(["project", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
