"""Regional accounts, replay and internal-migration estimation: the readers on small synthetic files, the
accounting identities on synthetic cohorts built event by event, the estimation on three synthetic regions
with known flows, and on Greenland's registered account (2011-2020) against its registered internal moves."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.errors import DataError
from stochpop.data.greenland import GreenlandAccount, load_greenland, read_greenland_counts
from stochpop.regions.accounts import (
    adjusted_rates,
    allocate,
    national_events,
    national_residual,
    net_adjustment,
    rates_at_risk,
    regional_residual,
    to_end_of_year,
)
from stochpop.regions.destinations import destination_shares
from stochpop.regions.internal import fit_gross_flows, net_internal_migration
from stochpop.regions.replay import replay

# ---------------------------------------------------------------- readers on synthetic files

HEADER = "age,triangle,sex,time,count"


def event_rows(ages: list[str], years: list[int]) -> list[str]:
    """Rows of an event file; count = 10 * age + (1 for upper) + (2 for male) + (year - 2011)."""
    rows = [HEADER]
    for year in years:
        for index, age in enumerate(ages):
            for tri, triangle in enumerate(("Lower", "Upper")):
                for sx, sex in enumerate(("Female", "Male")):
                    rows.append(f"{age},{triangle},{sex},{year},{10 * index + tri + 2 * sx + year - 2011}")
    return rows


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n")
    return path


def test_reader_labels_values_and_open_age(tmp_path):
    data = read_greenland_counts(write(tmp_path / "deaths.csv", event_rows(["0", "1", "2+"], [2011, 2012])))
    assert data.dims == ("year", "sex", "age", "triangle")
    assert data.attrs["open_age"] == 2
    assert list(data["sex"].values) == list(SEXES)
    assert data.sel(year=2012, sex="male", age=2, triangle="upper").item() == 20 + 1 + 2 + 1


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        (lambda rows: rows.__setitem__(3, "1,Lower,Woman,2011,4"), "sex", "unknown label 'Woman'"),
        (lambda rows: rows.__setitem__(3, "1,Lower,Female,2011,-4"), "count", "not a non-negative integer"),
        (lambda rows: rows.__setitem__(3, rows[2]), "rows", "duplicate row"),
        (lambda rows: rows.pop(3), "rows", "no row for"),
        (lambda rows: rows.__setitem__(3, "1+,Lower,Female,2011,4"), "age", "expected one 'N+'"),
        (lambda rows: rows.__setitem__(0, "age,triangle,gender,time,count"), "header", "columns are"),
    ],
)
def test_reader_names_file_field_and_problem(tmp_path, edit, field, problem):
    rows = event_rows(["0", "1", "2+"], [2011])
    edit(rows)
    path = write(tmp_path / "bad.csv", rows)
    with pytest.raises(DataError) as caught:
        read_greenland_counts(path)
    assert caught.value.source == str(path)
    assert caught.value.field == field
    assert problem in caught.value.problem


def greenland_folder(folder: Path, death_ages: tuple[str, ...] = ("0", "1+")) -> Path:
    """The seven files of a tiny account: ages 0 and 1+, one region, populations 2010-2011, events 2011."""
    cells = [(age, sex) for age in ("0", "1+") for sex in ("Female", "Male")]
    write(
        folder / "reg_popn.csv",
        ["age,sex,time,count", *(f"{a},{s},{t},5" for a, s in cells for t in (2010, 2011))],
    )
    write(
        folder / "reg_popn_region.csv",
        ["age,sex,region,time,count", *(f"{a},{s},R,{t},5" for a, s in cells for t in (2010, 2011))],
    )
    write(folder / "reg_births.csv", event_rows(["20"], [2011]))
    for name in ("deaths", "immigration"):
        write(folder / f"reg_{name}.csv", event_rows(["0", "1+"], [2011]))
    write(folder / "reg_emigration.csv", event_rows(list(death_ages), [2011]))
    internal = ["age,triangle,sex,region,time,direction,count"]
    for direction in ("In", "Out"):
        for age in ("0", "1+"):
            for triangle in ("Lower", "Upper"):
                internal += [f"{age},{triangle},{sex},R,2011,{direction},1" for sex in ("Female", "Male")]
    write(folder / "reg_internal_region.csv", internal)
    return folder


def test_load_checks_that_the_files_agree(tmp_path):
    account = load_greenland(greenland_folder(tmp_path))
    assert account.open_age == 1
    assert account.births.dims == ("year", "sex", "mother_age", "triangle")
    assert account.internal_out.dims == ("year", "region", "sex", "age", "triangle")
    assert float(account.internal_in.sum()) == 8
    with pytest.raises(DataError) as caught:
        load_greenland(greenland_folder(tmp_path, death_ages=("0", "1", "2+")))
    assert caught.value.source == str(tmp_path / "reg_emigration.csv")
    assert caught.value.field == "age"


# ---------------------------------------------------------------- identities on synthetic cohorts


def test_end_of_year_is_lower_plus_previous_upper_and_open_age_keeps_its_upper():
    rng = np.random.default_rng(1)
    counts = xr.DataArray(
        rng.integers(0, 9, size=(4, 2)).astype(float),
        dims=("age", "triangle"),
        coords={"age": [0, 1, 2, 3], "triangle": ["lower", "upper"]},
    )
    c = counts.values
    expected = [c[0, 0], c[1, 0] + c[0, 1], c[2, 0] + c[1, 1], c[3, 0] + c[2, 1] + c[3, 1]]
    np.testing.assert_array_equal(to_end_of_year(counts).values, expected)
    closed = to_end_of_year(counts, open_age=False)
    np.testing.assert_array_equal(closed.values, [*expected[:3], c[3, 0] + c[2, 1], c[3, 1]])


def cohort_account(rng: np.random.Generator, years: int = 3, ages: int = 6) -> GreenlandAccount:
    """A national account whose populations are built cohort by cohort from random triangle events."""
    shape = (years, 2, ages, 2)
    coords = {"year": np.arange(2011, 2011 + years), "sex": list(SEXES), "age": np.arange(ages)}
    tri = {**coords, "triangle": ["lower", "upper"]}
    dims = ("year", "sex", "age", "triangle")
    deaths, emigration, immigration = (rng.integers(0, 4, size=shape).astype(float) for _ in range(3))
    newborns = rng.integers(40, 60, size=(years, 2)).astype(float)
    population = np.zeros((years + 1, 2, ages))
    population[0] = rng.integers(50, 80, size=(2, ages))
    for t in range(years):  # event by event along each cohort: lower triangle of x, upper of x - 1
        net = immigration[t] - deaths[t] - emigration[t]
        population[t + 1, :, 0] = newborns[t] + net[:, 0, 0]
        for x in range(1, ages):
            population[t + 1, :, x] = population[t, :, x - 1] + net[:, x - 1, 1] + net[:, x, 0]
        population[t + 1, :, -1] += population[t, :, -1] + net[:, -1, 1]
    births = xr.DataArray(
        np.stack([newborns, np.zeros_like(newborns)], axis=-1)[:, :, None, :],
        dims=("year", "sex", "mother_age", "triangle"),
        coords={**{k: coords[k] for k in ("year", "sex")}, "mother_age": [3], "triangle": ["lower", "upper"]},
    )
    stock = xr.DataArray(
        population, dims=("year", "sex", "age"), coords={**coords, "year": np.arange(2010, 2011 + years)}
    )
    empty = xr.DataArray(np.zeros((years, 1, 2, ages, 2)), dims=("year", "region", *dims[1:]))
    return GreenlandAccount(
        population=stock,
        regional_population=stock.expand_dims(region=["all"], axis=1),
        births=births,
        deaths=xr.DataArray(deaths, dims=dims, coords=tri),
        immigration=xr.DataArray(immigration, dims=dims, coords=tri),
        emigration=xr.DataArray(emigration, dims=dims, coords=tri),
        internal_in=empty,
        internal_out=empty,
        open_age=ages - 1,
    )


def account_events(account: GreenlandAccount) -> xr.Dataset:
    return national_events(account.births, account.deaths, account.emigration, account.immigration)


def test_national_identity_holds_on_cohorts_and_finds_a_changed_event():
    account = cohort_account(np.random.default_rng(2))
    residual = national_residual(account.population, account_events(account))
    np.testing.assert_allclose(residual.values, 0.0, atol=1e-12)

    moved = account.deaths.copy()
    moved.loc[dict(year=2012, sex="male", age=2, triangle="upper")] += 5  # a cohort aged 3 at year end
    changed = national_residual(
        account.population, national_events(account.births, moved, account.emigration, account.immigration)
    )
    assert changed.sel(year=2012, sex="male", age=3).item() == pytest.approx(5.0)
    assert float(abs(changed).sum()) == pytest.approx(5.0)


# ---------------------------------------------------------------- estimation on synthetic regions


def gravity_reference(level: np.ndarray, aged: np.ndarray, national: np.ndarray) -> tuple[np.ndarray, ...]:
    """Out-moves, in-moves and the origin-destination moves (from, to) of one (sex, age) cell, written as
    the model reads: the national moves shared by level x aged, each origin's movers spread over the other
    regions by their aged stocks."""
    regions = aged.size
    out = national * level * aged / np.sum(level * aged)
    matrix = np.zeros((regions, regions))
    for origin in range(regions):
        others = [r for r in range(regions) if r != origin]
        for destination in others:
            matrix[origin, destination] = out[origin] * aged[destination] / aged[others].sum()
    return out, matrix.sum(axis=0), matrix


def synthetic_regions(rng: np.random.Generator, level: np.ndarray, noisy: bool, years: int = 6) -> dict:
    """Three regions with the same national rates and known internal moves, built year by year; with
    `noisy` each origin-destination flow is a Poisson draw around the model's. Returns the regional
    populations, the national account by age at end of year and the true moves (year, region, sex, age)."""
    regions, ages = level.size, np.arange(101)
    mother_ages = np.arange(13, 52)
    fertility = 0.09 * np.exp(-(((mother_ages - 29.0) / 7.0) ** 2))
    q = np.minimum(4e-4 * np.exp(0.085 * ages), 0.6)
    emigration, immigration = 0.03 * np.exp(-(((ages - 27.0) / 15.0) ** 2)), 0.025 * np.exp(-ages / 40.0)
    moving = 0.05 * np.exp(-(((ages - 24.0) / 12.0) ** 2)) + 0.01
    population = np.zeros((years + 1, regions, 2, ages.size))
    population[0] = np.array([9e3, 6e3, 4e3])[:, None, None] * np.exp(
        -ages / np.array([35, 45, 60])[:, None, None]
    )
    moves = {"out": np.zeros((years, regions, 2, ages.size)), "in": np.zeros((years, regions, 2, ages.size))}
    aged_all = np.zeros_like(moves["out"])
    for t in range(years):
        start = population[t]
        women = start[:, 0, mother_ages - 1]
        newborns = (women * fertility).sum(-1)[:, None] * np.array([0.49, 0.51])
        aged = np.concatenate(
            [newborns[..., None], start[..., :-2], start[..., -2:].sum(-1, keepdims=True)], -1
        )
        aged_all[t] = aged
        national = moving * aged.sum(0)
        for s in range(2):
            for x in ages:
                out, in_moves, matrix = gravity_reference(level, aged[:, s, x], national[s, x])
                if noisy:
                    matrix = rng.poisson(matrix).astype(float)
                    out, in_moves = matrix.sum(1), matrix.sum(0)
                moves["out"][t, :, s, x], moves["in"][t, :, s, x] = out, in_moves
        change = aged * (immigration - q - emigration)
        population[t + 1] = aged + change + moves["in"][t] - moves["out"][t]
    coords = {
        "year": np.arange(2011, 2011 + years),
        "region": ["a", "b", "c"],
        "sex": list(SEXES),
        "age": ages,
    }
    dims = ("year", "region", "sex", "age")
    stocks = xr.DataArray(population, dims=dims, coords={**coords, "year": np.arange(2010, 2011 + years)})
    aged_xr = xr.DataArray(aged_all, dims=dims, coords=coords)
    women = stocks.sel(sex="female", year=coords["year"] - 1).sum("region").values[:, mother_ages - 1]
    events = xr.Dataset(
        {
            "births": aged_xr.sel(age=0).sum("region"),
            "maternity": (("year", "mother_age"), women * fertility),
            "deaths": (aged_xr * q).sum("region"),
            "emigration": (aged_xr * emigration).sum("region"),
            "immigration": (aged_xr * immigration).sum("region"),
        },
        coords={"mother_age": mother_ages},
    )
    return {
        "regional": stocks,
        "national": stocks.sum("region"),
        "events": events,
        "out": xr.DataArray(moves["out"], dims=dims, coords=coords),
        "in": xr.DataArray(moves["in"], dims=dims, coords=coords),
    }


LEVEL = np.array([1.6, 1.0, 0.5])


def test_net_and_gross_moves_recovered_exactly_from_model_data():
    """Without noise the allocation is exact (every region has the national rates), so the cohort residual
    is the true net and the gross fit recovers the levels and out-moves up to the solver's tolerance."""
    data = synthetic_regions(np.random.default_rng(3), LEVEL, noisy=False)
    allocated = allocate(data["regional"], rates_at_risk(data["national"], data["events"]))
    net = net_internal_migration(data["regional"], allocated)
    true_net = data["in"] - data["out"]
    np.testing.assert_allclose(net.values, true_net.values, atol=1e-8 * float(abs(true_net).max()))
    fit = fit_gross_flows(net, allocated["aged"], data["out"].sum("region"))
    np.testing.assert_allclose(fit.level.values, LEVEL / np.exp(np.log(LEVEL).mean()), rtol=1e-5)
    np.testing.assert_allclose(fit.out_moves.values, data["out"].values, rtol=1e-5, atol=1e-6)


def test_gross_moves_recovered_within_poisson_noise():
    """Origin-destination flows drawn Poisson around the model: each region's out-moves over the years
    (28 000-132 000; Poisson sd 0.3-0.6%) within 3%. The levels are fitted to nets, which carry the noise
    of both directions and of every cell: measured at most 1.5% off over seeds 0-19, so 3% is twice that."""
    for seed in (4, 5):
        data = synthetic_regions(np.random.default_rng(seed), LEVEL, noisy=True)
        allocated = allocate(data["regional"], rates_at_risk(data["national"], data["events"]))
        net = net_internal_migration(data["regional"], allocated)
        np.testing.assert_allclose(net.values, (data["in"] - data["out"]).values, atol=1e-6)
        fit = fit_gross_flows(net, allocated["aged"], data["out"].sum("region"))
        estimated, true = (flows.sum(["year", "sex", "age"]) for flows in (fit.out_moves, data["out"]))
        assert float(abs(estimated / true - 1).max()) < 0.03


def test_destination_shares_keep_feasible_margins():
    rng = np.random.default_rng(6)
    matrix = rng.uniform(1, 20, size=(4, 4)) * (1 - np.eye(4))
    shares = destination_shares(matrix.sum(1), matrix.sum(0))
    np.testing.assert_allclose(shares.sum(-1), 1.0)
    np.testing.assert_allclose(np.diag(shares), 0.0)
    np.testing.assert_allclose((matrix.sum(1)[:, None] * shares).sum(0), matrix.sum(0), rtol=1e-6)


# ---------------------------------------------------------------- Greenland's registered account


@pytest.fixture(scope="module")
def greenland(shared_data: Path) -> GreenlandAccount:
    return load_greenland(shared_data / "greenland")


@pytest.fixture(scope="module")
def greenland_rates(greenland) -> xr.Dataset:
    return rates_at_risk(greenland.population, account_events(greenland))


def test_greenland_national_identity_nearly_holds(greenland):
    """Measured: 52-238 persons a year (0.1-0.4% of 56 000) differ, at most 16 in one cell, in cells spread
    over ages 0-90 with both signs: the registers' own inconsistencies, not a Lexis convention (swapping
    the triangles leaves 1 250-1 500 a year). Tolerances: 0.5% a year, 20 in a cell."""
    residual = national_residual(greenland.population, account_events(greenland))
    population = greenland.population.sel(year=residual["year"]).sum(["sex", "age"])
    assert float((abs(residual).sum(["sex", "age"]) / population).max()) < 0.005
    assert float(abs(residual).max()) <= 20


def test_greenland_allocation_to_the_nation_returns_registered_events(greenland, greenland_rates):
    """Allocating to one region holding the whole nation gives back the registered events."""
    nation = greenland.population.expand_dims(region=["Greenland"], axis=1)
    allocated = allocate(nation, greenland_rates).squeeze("region", drop=True)
    events = account_events(greenland)
    np.testing.assert_allclose(allocated["births"].values, events["births"].values, rtol=1e-12)
    for name in ("deaths", "emigration", "immigration"):
        np.testing.assert_allclose(allocated[name].values, events[name].values, atol=1e-9)


def registered_net(account: GreenlandAccount) -> xr.DataArray:
    return to_end_of_year(account.internal_in - account.internal_out)


def test_greenland_regional_identity_with_allocated_events(greenland, greenland_rates):
    """With registered internal moves and events allocated by population at risk, each region-year is
    off by what the allocation misses (measured: at most 1.4% of the region's population; Sermersooq
    below the allocation in 9 of 10 years, by 38-122 persons): at most 2%."""
    allocated = allocate(greenland.regional_population, greenland_rates)
    residual = regional_residual(greenland.regional_population, allocated, registered_net(greenland))
    population = greenland.regional_population.sel(year=residual["year"]).sum(["sex", "age"])
    assert float((abs(residual.sum(["sex", "age"])) / population).max()) < 0.02


def greenland_replay(account: GreenlandAccount, rates: xr.Dataset) -> xr.Dataset:
    first = int(account.population["year"][0])
    return replay(
        account.regional_population.sel(year=first),
        rates,
        to_end_of_year(account.internal_out),
        to_end_of_year(account.internal_in),
    )


def test_greenland_replay_reproduces_regional_populations(greenland, greenland_rates):
    """Replay 2011-2020: the registered out-moves come back exactly, in-moves to within the national
    mismatch of in- and out-moves (at most 30 a year; measured 9), and the regional populations drift by
    what the allocation misses, year after year (measured: at most 5.3% by 2020, mean 1.7%): at most 6%
    and 2%."""
    replayed = greenland_replay(greenland, greenland_rates)
    np.testing.assert_allclose(
        replayed["internal_out"].values, to_end_of_year(greenland.internal_out).values, atol=1e-9
    )
    in_moves = to_end_of_year(greenland.internal_in).sum(["sex", "age"])
    assert float(abs(replayed["internal_in"].sum(["sex", "age"]) - in_moves).max()) <= 30
    registered = greenland.regional_population.sel(year=replayed["year"]).sum(["sex", "age"])
    relative = abs(replayed["population"].sum(["sex", "age"]) / registered - 1)
    assert float(relative.max()) < 0.06
    assert float(relative.mean()) < 0.02


def test_greenland_adjustment_fitted_on_2011_2015_improves_the_replay_of_2016_2020(
    greenland, greenland_rates
):
    """Out of sample: a net adjustment per region fitted to the regional identity's residual of 2011-2015
    and carried into a replay of 2016-2020 from the registered 2015 populations, beside the proportional
    allocation's replay of the same years (measured: max 4.1% -> 2.6%, mean 1.3% -> 0.7%): the adjusted
    replay must beat it on both, and stay within 3.5% and 1%."""
    allocated = allocate(greenland.regional_population, greenland_rates)
    residual = regional_residual(greenland.regional_population, allocated, registered_net(greenland))
    calibration, later = slice(2011, 2015), slice(2016, 2020)
    adjustment = net_adjustment(residual.sel(year=calibration), allocated["aged"].sel(year=calibration))
    out, in_moves = (
        to_end_of_year(moves).sel(year=later) for moves in (greenland.internal_out, greenland.internal_in)
    )
    errors = {}
    for name, rates in {
        "proportional": greenland_rates.sel(year=later),
        "adjusted": adjusted_rates(greenland_rates.sel(year=later), adjustment),
    }.items():
        replayed = replay(greenland.regional_population.sel(year=2015), rates, out, in_moves)
        registered = greenland.regional_population.sel(year=replayed["year"]).sum(["sex", "age"])
        errors[name] = abs(replayed["population"].sum(["sex", "age"]) / registered - 1)
    assert float(errors["adjusted"].max()) < min(0.035, float(errors["proportional"].max()))
    assert float(errors["adjusted"].mean()) < min(0.01, float(errors["proportional"].mean()))


def test_greenland_net_internal_migration_from_populations(greenland, greenland_rates):
    """Net internal migration as a cohort residual, the registered moves hidden: per region and year it
    is off by the allocation's error (measured: mean 45, at most 128 persons; net moves are -232..+394):
    mean at most 60, none above 150."""
    allocated = allocate(greenland.regional_population, greenland_rates)
    net = net_internal_migration(greenland.regional_population, allocated).sum(["sex", "age"])
    error = abs(net - registered_net(greenland).sum(["sex", "age"]))
    assert float(error.mean()) < 60
    assert float(error.max()) < 150


def test_greenland_gross_out_moves_from_populations(greenland, greenland_rates):
    """Gross out-moves from the net residuals and the national moves by year, sex and age: each region's
    2011-2020 total (6 000-12 300) within 15% (measured: -13% to +12%)."""
    allocated = allocate(greenland.regional_population, greenland_rates)
    net = net_internal_migration(greenland.regional_population, allocated)
    out = to_end_of_year(greenland.internal_out)
    fit = fit_gross_flows(net, allocated["aged"], out.sum("region"))
    relative = fit.out_moves.sum(["year", "sex", "age"]) / out.sum(["year", "sex", "age"]) - 1
    assert float(abs(relative).max()) < 0.15
