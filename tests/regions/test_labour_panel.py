"""Labour-market panel: NAV's county unemployment read as the raw file says, the old counties mapped onto the
2024 ones, the fixed-effects estimate against a dummy-variable regression, the NumPyro panel's recovery of
beta and gamma from data simulated from the model, scenarios that net to zero nationally (each path its
own posterior draw), and the scenario file's reader."""

import csv
from collections import defaultdict
from pathlib import Path

import jax
import numpy as np
import pytest
import xarray as xr

from stochpop.components.settings import FitSettings
from stochpop.data.errors import DataError
from stochpop.data.labour import (
    COUNTY_CODES,
    read_unemployment,
    read_unemployment_old_counties,
    read_unemployment_scenario,
)
from stochpop.data.regional import read_locations
from stochpop.regions.labour_panel import Panel, fit_panel, fixed_effects, path_shifts, unemployment_scenario

TRUE_BETA, TRUE_GAMMA = -1.5, 1.0


def test_reader_is_the_mean_of_the_raw_monthly_shares(shared_data: Path) -> None:
    path = shared_data / "norway" / "labour" / "arbeidsledighet.csv"
    months: dict[tuple[str, int], list[float]] = defaultdict(list)
    counts: dict[tuple[str, int], list[float]] = defaultdict(list)
    with open(path, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            county = row["Geografisk enhet"].strip()
            wanted = (row["Nivå"], row["Arbeidsmarkedsstatus"], row["Kjønn"]) == (
                "Fylker",
                "Helt ledige",
                "Begge kjønn",
            )
            if wanted and county in COUNTY_CODES:
                key = (COUNTY_CODES[county], int(row["Dato"][:4]))
                months[key].append(100 * float(row["Andel av arbeidsstyrken"]))
                counts[key].append(float(row["Antall personer"]))
    data = read_unemployment(path)
    assert data["year"].values.tolist() == list(range(2011, 2026))  # 2026: January only
    assert sorted(data["region"].values) == sorted(COUNTY_CODES.values())
    for (region, year), shares in months.items():
        if year in data["year"].values:
            assert len(shares) == 12
            assert float(data["rate"].sel(region=region, year=year)) == pytest.approx(np.mean(shares))
            assert float(data["unemployed"].sel(region=region, year=year)) == pytest.approx(
                np.mean(counts[(region, year)])
            )
    assert float(data["rate"].sel(region="03", year=2015)) == pytest.approx(
        41.6 / 12
    )  # Oslo 2015 from the file by hand


def test_county_codes_are_the_location_hierarchy_s(shared_data: Path) -> None:
    locations = read_locations(
        shared_data / "norway" / "regional" / "DERIVED_csdata_locations_hierarchy_b2024.csv.gz"
    )
    names = dict(zip(locations["county"], locations["county_name"].str.split("-").str[0], strict=True))
    assert {name: code for code, name in names.items()} == COUNTY_CODES


def test_old_counties_mapped_agree_with_the_2024_series(shared_data: Path) -> None:
    folder = shared_data / "norway" / "labour"
    new = read_unemployment(folder / "arbeidsledighet.csv")
    old = read_unemployment_old_counties(folder / "arbeidsledighet_2010_2024.csv")
    assert old["year"].values.tolist() == list(range(2010, 2020))
    assert bool(old["rate"].sel(region="31", year=2010).isnull())  # Østfold has no 2010 rows
    difference = (old["rate"] - new["rate"]).sel(year=slice(2011, 2019))
    assert int(difference.notnull().sum()) == 9 * 15 - 1
    assert float(np.abs(difference).max()) < 0.1
    # Oslo's borders never changed: the same persons counted in both files from 2013 (2011-2012 differ by
    # under 30 of 11 000)
    oslo = np.abs(old["unemployed"] - new["unemployed"]).sel(region="03")
    assert float(oslo.sel(year=slice(2013, 2019)).max()) < 1e-9
    assert float(oslo.max()) < 30


def _design(rng: np.random.Generator, years: int = 13, regions: int = 15) -> Panel:
    """Unemployment (year, region) with a national cycle and county swings; 4 city counties; no y yet."""
    u = (
        2.8
        + rng.normal(0.0, 0.5, regions)[None, :]
        + rng.normal(0.0, 0.8, years)[:, None]
        + rng.normal(0.0, 0.6, (years, regions))
    )
    coords = {"year": np.arange(2011, 2011 + years), "region": [f"{i:02d}" for i in range(regions)]}
    unemployment = xr.DataArray(u, dims=("year", "region"), coords=coords)
    city = xr.DataArray(np.isin(np.arange(regions), [0, 3, 6, 9]).astype(float), dims="region")
    return Panel(xr.zeros_like(unemployment), unemployment, city.assign_coords(region=coords["region"]))


def _simulated(seed: int = 3) -> Panel:
    """y from the model: county levels sd 3, free year effects, beta -1.5, gamma +1, Student-t(6) noise sd
    scale 1 per 1000."""
    rng = np.random.default_rng(seed)
    design = _design(rng)
    years, regions = design.unemployment.shape
    x = design.unemployment.values - design.unemployment.values.mean()
    effect = TRUE_BETA + TRUE_GAMMA * design.city.values
    y = (
        rng.normal(0.0, 3.0, regions)[None, :]
        + rng.normal(0.0, 1.0, years)[:, None]
        + effect[None, :] * x
        + rng.standard_t(6.0, (years, regions))
    )
    return design._replace(migration=design.unemployment.copy(data=y))


def test_fixed_effects_equal_a_dummy_variable_regression() -> None:
    panel = _simulated(seed=11)
    years, regions = panel.migration.shape
    u = panel.unemployment.values.ravel()
    columns = [u, u * np.tile(panel.city.values, years)]
    columns += [np.repeat(np.arange(years) == t, regions).astype(float) for t in range(years)]
    columns += [np.tile(np.arange(regions) == r, years).astype(float) for r in range(1, regions)]
    design = np.stack(columns, axis=1)
    coef, *_ = np.linalg.lstsq(design, panel.migration.values.ravel(), rcond=None)
    residual = panel.migration.values.ravel() - design @ coef
    covariance = np.linalg.inv(design.T @ design) * (residual @ residual) / (u.size - design.shape[1])
    fe = fixed_effects(panel)
    assert (fe.beta, fe.gamma) == pytest.approx((coef[0], coef[1]), abs=1e-10)
    assert fe.se == pytest.approx((np.sqrt(covariance[0, 0]), np.sqrt(covariance[1, 1])), rel=1e-9)
    assert fe.n == years * regions


@pytest.fixture(scope="module")
def simulated_fit():
    panel = _simulated()
    return panel, fit_panel(panel, FitSettings(warmup=500, samples=1000, target_accept=0.95, seed=1))


def test_panel_model_recovers_beta_and_gamma(simulated_fit) -> None:
    panel, idata = simulated_fit
    assert '"divergences": 0' in idata["posterior"].attrs["diagnostics"]
    for name, truth in (("beta", TRUE_BETA), ("gamma", TRUE_GAMMA), ("beta_city", TRUE_BETA + TRUE_GAMMA)):
        draws = idata["posterior"][name].values.ravel()
        low, high = np.quantile(draws, [0.025, 0.975])
        assert low < truth < high, (name, low, high)
        assert draws.std() < 0.4, name  # informative: the data, not the prior N(0, 2), decide
    gamma = idata["posterior"]["gamma"].values.ravel()
    assert np.quantile(gamma, 0.05) > 0  # the weaker city effect is found, not just allowed
    fe = fixed_effects(panel)
    assert fe.beta == pytest.approx(float(idata["posterior"]["beta"].mean()), abs=0.2)


def test_scenarios_net_to_zero_nationally(simulated_fit) -> None:
    panel, idata = simulated_fit
    regions = panel.migration["region"].values
    change = xr.DataArray(
        np.zeros((3, regions.size)),
        dims=("year", "region"),
        coords={"year": [2030, 2031, 2032], "region": regions},
    )
    change.loc[{"region": "01"}] = 2.0
    population = xr.DataArray(np.linspace(8e4, 7e5, regions.size), dims="region", coords={"region": regions})
    shift = unemployment_scenario(idata, change, population, panel.city)
    assert shift["persons"].dims == ("sample", "year", "region")
    total = np.abs(shift["persons"].sum("region")).max()
    assert float(total) < 1e-9 * float(np.abs(shift["persons"]).max())
    affected = shift["rate"].sel(region="01")
    beta = idata["posterior"]["beta"].stack(sample=("chain", "draw"))
    share = float(population.sel(region="01") / population.sum())
    np.testing.assert_allclose(affected.sel(year=2031).values, (beta * 2.0 * (1 - share)).values)
    assert float((affected < 0).mean()) > 0.99
    uniform = unemployment_scenario(idata, xr.ones_like(change), population, panel.city)
    assert np.allclose(uniform["persons"].sum("region"), 0.0, atol=1e-6)
    no_cities = unemployment_scenario(idata, xr.ones_like(change), population, xr.zeros_like(panel.city))
    assert float(np.abs(no_cities["persons"]).max()) < 1e-9  # a uniform rise alone moves nobody


def test_path_shifts_are_each_paths_posterior_draw(simulated_fit) -> None:
    """Each path's shift is `unemployment_scenario`'s for one posterior draw (the same whatever the chunk),
    and its persons sum to zero over regions."""
    panel, idata = simulated_fit
    regions = panel.migration["region"].values
    change = xr.DataArray(
        np.zeros((2, regions.size)), dims=("year", "region"), coords={"year": [2030, 2031], "region": regions}
    )
    change.loc[{"region": regions[1]}] = [1.0, 3.0]
    population = xr.DataArray(np.linspace(8e4, 7e5, regions.size), dims="region", coords={"region": regions})
    key = jax.random.PRNGKey(5)
    shifts = path_shifts(idata, key, 6, change, population, panel.city)
    assert shifts.shape == (2, 6, regions.size)
    np.testing.assert_allclose(shifts.sum(-1), 0.0, atol=1e-9 * np.abs(shifts).max())
    every = unemployment_scenario(idata, change, population, panel.city)["persons"].values  # (sample, ...)
    for path in range(6):
        assert np.abs(every - shifts[:, path]).max((1, 2)).min() < 1e-9 * np.abs(shifts).max()
    np.testing.assert_array_equal(
        path_shifts(idata, key, [4, 5], change, population, panel.city), shifts[:, 4:]
    )


def scenario_file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "scenario.csv"
    path.write_text("region,year,change\n" + "\n".join(rows) + "\n")
    return path


def test_scenario_reader_fills_zeros_and_names_bad_lines(tmp_path: Path) -> None:
    years = np.arange(2025, 2030)
    change = read_unemployment_scenario(
        scenario_file(tmp_path, ["11,2026,2.5", "03,2025,-1"]), ["03", "11"], years
    )
    assert change.sel(region="11", year=2026) == 2.5 and change.sel(region="03", year=2025) == -1.0
    assert float(abs(change).sum()) == 3.5
    for rows, message in (
        (["99,2026,1"], "line 2: region"),
        (["11,2040,1"], "line 2: year"),
        (["11,2026,lots"], "line 2: change"),
        (["11,2026,1", "11,2026,2"], "line 3: year.*line 2"),
    ):
        with pytest.raises(DataError, match=message):
            read_unemployment_scenario(scenario_file(tmp_path, rows), ["03", "11"], years)
