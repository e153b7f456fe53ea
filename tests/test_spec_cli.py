"""Specifications, indicators and the `stochpop run` command."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stochpop.cli import main
from stochpop.indicators import indicators, median_age
from stochpop.spec import SpecError, load_spec, parse_spec


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[data]\nsource = 'wpp'\n", r"data.source: 'wpp' is not one of"),
        ("[projection]\nhorizon = 0\n", r"projection.horizon: must be at least 1"),
        ("[projection]\nhorizon = 'ten'\n", r"projection.horizon: expected int"),
        ("[projection]\njumpoff = 2020\n", r"projection.jumpoff: unknown key"),
        ("[model]\nx = 1\n", r"unknown section\(s\) \['model'\]"),
        ("[data]\nsource = 'hmd-hfd'\n", r"data.path: required"),
        ("[data\n", r"not valid TOML"),
    ],
)
def test_invalid_specs_name_the_key(text, message):
    with pytest.raises(SpecError, match=rf"^bad.toml: .*{message}"):
        parse_spec(text, "bad.toml")


def test_shipped_specs_parse():
    assert load_spec("models/demo.toml").data.source == "demo"
    norway = load_spec("models/norway.toml")
    assert (norway.data.path, norway.projection.jump_off) == ("norway", 2024)


def test_indicators_against_numpy():
    rng = np.random.default_rng(0)
    pop = rng.uniform(0, 1000, size=(3, 2, 120))
    ds = xr.Dataset({"population": (("year", "sex", "age"), pop)}, coords={"age": np.arange(120)})
    for name in ("births", "deaths", "emigrations", "immigrations"):
        ds[name] = (("event_year", "sex"), rng.uniform(0, 100, size=(2, 2)))
    out = indicators(ds)
    by_age = pop.sum(1)
    np.testing.assert_allclose(out["age_65_plus"], by_age[:, 65:].sum(-1))
    np.testing.assert_allclose(out["old_age_dependency"], by_age[:, 65:].sum(-1) / by_age[:, 20:65].sum(-1))
    np.testing.assert_allclose(out["net_migration"], (ds.immigrations - ds.emigrations).sum("sex"))
    # Median age: half the population below it, persons spread evenly within each year of age.
    cumulative = np.cumsum(by_age, axis=-1)
    for y in range(3):
        x = int(np.searchsorted(cumulative[y], by_age[y].sum() / 2))
        below = cumulative[y, x] - by_age[y, x]
        assert float(out["median_age"][y]) == pytest.approx(x + (by_age[y].sum() / 2 - below) / by_age[y, x])


def test_median_age_of_a_uniform_population():
    pop = xr.DataArray(np.ones(80), dims="age", coords={"age": np.arange(80)})
    assert float(median_age(pop)) == pytest.approx(40.0)


def test_run_demo_writes_consistent_outputs(tmp_path):
    assert main(["run", "models/demo.toml", "--out", str(tmp_path)]) == 0
    stocks = pd.read_csv(tmp_path / "population.csv", index_col="year")
    events = pd.read_csv(tmp_path / "events.csv", index_col="event_year")
    result = xr.open_dataset(tmp_path / "projection.nc")
    assert stocks.index[0] == 2025 and stocks.index[-1] == 2100 and events.index[-1] == 2099
    change = events["births"] - events["deaths"] + events["net_migration"]
    np.testing.assert_allclose(
        stocks["population"].values[1:], stocks["population"].values[:-1] + change.values, rtol=1e-9
    )
    np.testing.assert_allclose(result["population"].sum(("sex", "age")), stocks["population"], rtol=1e-12)
    assert not list(tmp_path.glob(".partial-*"))


def test_run_with_bad_spec_fails_cleanly(tmp_path, capsys):
    spec = tmp_path / "bad.toml"
    spec.write_text("[projection]\nhorizon = -3\n")
    out = tmp_path / "out"
    assert main(["run", str(spec), "--out", str(out)]) == 2
    assert "projection.horizon: must be at least 1" in capsys.readouterr().err
    assert not out.exists()
