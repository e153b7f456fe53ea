"""Distances between regions: the great-circle function against exact arcs and the spherical law of
cosines, the log-distance feature, and on the shared data the municipalities' coordinates by code, a BA
region's centre by hand and the BA regions' distance matrix."""

import csv
import gzip
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.regions.division_inputs import (
    NAMES_FILE,
    REFERENCE_YEAR,
    division_proximity,
    municipality_places,
    placed_persons,
    region_centres,
    region_counties,
    region_distances,
)
from stochpop.regions.divisions import load_division
from stochpop.regions.internal_model import COORDINATE_FILES, EARTH_RADIUS_KM, great_circle_km, log_distance


def test_great_circle_against_exact_arcs_and_the_law_of_cosines() -> None:
    """One degree of a meridian, a quarter of the equator and pole to equator are exact arcs; random
    points far apart agree with the spherical law of cosines (exact there, unlike at short range)."""
    arc = np.pi * EARTH_RADIUS_KM / 180
    lat, lon = np.array([60.0, 61.0, 0.0, 0.0, 90.0]), np.array([10.0, 10.0, 0.0, 90.0, 0.0])
    distance = great_circle_km(lat, lon)
    assert distance[0, 1] == pytest.approx(arc, rel=1e-12)
    assert distance[2, 3] == pytest.approx(90 * arc, rel=1e-12)
    assert distance[2, 4] == pytest.approx(90 * arc, rel=1e-12)
    rng = np.random.default_rng(4)
    lat, lon = rng.uniform(-80, 80, 30), rng.uniform(-180, 180, 30)
    phi, lam = np.radians(lat), np.radians(lon)
    cosine = np.sin(phi[:, None]) * np.sin(phi) + np.cos(phi[:, None]) * np.cos(phi) * np.cos(
        lam[:, None] - lam
    )
    expected = EARTH_RADIUS_KM * np.arccos(np.clip(cosine, -1, 1))
    far = expected > 100
    np.testing.assert_allclose(great_circle_km(lat, lon)[far], expected[far], rtol=1e-9)


def test_log_distance_is_over_the_median_pair_and_refuses_one_place() -> None:
    """Pairs 3, 4 and 5 km apart: the median pair 4 km, so log(3/4), 0 and log(5/4) off the diagonal; a
    pair 0 km apart or at an unknown distance is refused."""
    distance = np.array([[0.0, 3.0, 4.0], [3.0, 0.0, 5.0], [4.0, 5.0, 0.0]])
    feature = log_distance(distance)
    np.testing.assert_allclose(feature, np.log(np.where(distance > 0, distance, 4.0) / 4.0), atol=1e-15)
    for bad in (0.0, np.nan):
        distance[0, 1] = distance[1, 0] = bad
        with pytest.raises(ValueError, match="regions 0 and 1 are not apart"):
            log_distance(distance)


def test_municipality_places_refuse_a_name_of_no_municipality(write_municipal_folder) -> None:
    """A coordinate table's name that no municipality of its county has (nor among its forms) is refused,
    naming the table and its field; Sami and county-qualified names are found."""
    folder = write_municipal_folder(
        {"5628": "56", "1515": "15"}, {"56": "Finnmark", "15": "Møre og Romsdal"}, (REFERENCE_YEAR,), 3, 0
    )
    with gzip.open(folder / NAMES_FILE, "wt") as file:
        file.write(
            "location_code,location_name,granularity_geo\nmunicip_nor5628,Deatnu-Tana,municip\n"
            "municip_nor1515,Herøy,municip\n"
        )
    header = "Fra kommune,Fra fylke,Fra lat,Fra lon,Til kommune,Til fylke,Til lat,Til lon\n"
    (folder / "telemark").mkdir()
    for name in COORDINATE_FILES:
        (folder / name).write_text(
            header + "Tana,Finnmark,70,28,Herøy (Møre og Romsdal),Møre og Romsdal,62,5.6\n"
        )
    assert municipality_places(folder).to_dict("index") == {
        "1515": {"lat": 62.0, "lon": 5.6},
        "5628": {"lat": 70.0, "lon": 28.0},
    }
    (folder / COORDINATE_FILES[1]).write_text(header + "Tana,Finnmark,70,28,Herøy,Finnmark,62,5.6\n")
    with pytest.raises(
        DataError, match=r"tilflytting_til_telemarkskommuner.csv: kommune: 'Herøy' \(Finnmark\)"
    ):
        municipality_places(folder)


@pytest.fixture(scope="module")
def regional(shared_data: Path) -> Path:
    return shared_data / "norway" / "regional"


@pytest.fixture(scope="module")
def places(regional: Path) -> pd.DataFrame:
    return municipality_places(regional)


def _raw_coordinates(regional: Path) -> dict[str, tuple[float, float]]:
    """Telemark's two tables of moves read row by row: municipality name -> (lat, lon), both ends."""
    coordinates = {}
    for name in ("tilflytting_til_telemarkskommuner.csv", "fraflytting_fra_telemarkskommuner.csv"):
        with open(regional / "telemark" / name, encoding="utf-8") as file:
            for row in csv.DictReader(file):
                for end in ("Fra", "Til"):
                    coordinates[row[f"{end} kommune"]] = (float(row[f"{end} lat"]), float(row[f"{end} lon"]))
    return coordinates


def test_municipality_places_match_names_across_counties_and_sami_forms(
    regional: Path, places: pd.DataFrame
) -> None:
    """285 municipalities, each code once; names written with the county (Våler, Herøy: two of each in
    Norway), as one part of a Sami double name (Tana, Kautokeino, Oslo) or without "herad" (Voss)."""
    assert len(places) == 285 and places.index.is_unique
    raw = _raw_coordinates(regional)
    for name, code in {
        "Våler (Østfold)": "3114",
        "Herøy (Møre og Romsdal)": "1515",
        "Tana": "5628",
        "Kautokeino": "5612",
        "Oslo": "0301",
        "Voss": "4621",
        "Skien": "4003",
    }.items():
        assert tuple(places.loc[code, ["lat", "lon"]]) == raw[name], name


class BA(NamedTuple):
    """The BA regions' municipalities (`placed_persons`), weights, centres and distances."""

    placed: pd.DataFrame
    weights: xr.DataArray
    centres: pd.DataFrame
    distance: np.ndarray


@pytest.fixture(scope="module")
def ba(regional: Path, places: pd.DataFrame) -> BA:
    division = load_division("ba", regional)
    placed = placed_persons(division, regional)
    weights = region_counties(division, regional)
    majority = weights["majority"].to_series()
    return BA(
        placed, weights, region_centres(placed, places, majority), region_distances(placed, places, majority)
    )


def test_ba_region_centre_by_hand(regional: Path, municipal_population: xr.DataArray, ba: BA) -> None:
    """Haugesund (050): Haugesund, Bokn, Tysvær and Karmøy (Rogaland) have coordinates, Sveio (Vestland)
    has none; the centre is theirs weighted by persons on 1 January."""
    raw = _raw_coordinates(regional)
    codes = {"1106": "Haugesund", "1145": "Bokn", "1146": "Tysvær", "1149": "Karmøy"}
    persons = municipal_population.sel(year=REFERENCE_YEAR, region=list(codes)).sum(["sex", "age"]).values
    lat, lon = np.array([raw[name] for name in codes.values()]).T
    assert ba.centres.loc["050", "own"]
    assert ba.centres.loc["050", "lat"] == pytest.approx(np.sum(persons * lat) / persons.sum(), rel=1e-12)
    assert ba.centres.loc["050", "lon"] == pytest.approx(np.sum(persons * lon) / persons.sum(), rel=1e-12)


def test_ba_regions_without_coordinates_take_their_county_centre(places: pd.DataFrame, ba: BA) -> None:
    """28 regions have no municipality with coordinates; Vardø (135) sits at Finnmark's centre, and two
    such regions of Finnmark are as far apart as Finnmark's places on average."""
    assert (~ba.centres["own"]).sum() == 28
    located = ba.placed.join(places, how="inner")
    finnmark = located[located["county"] == "56"]
    share = finnmark["persons"] / finnmark["persons"].sum()
    assert not ba.centres.loc["135", "own"]
    assert ba.centres.loc["135", "lat"] == pytest.approx((share * finnmark["lat"]).sum(), rel=1e-12)
    assert ba.centres.loc["135", "lon"] == pytest.approx((share * finnmark["lon"]).sum(), rel=1e-12)
    apart = great_circle_km(finnmark["lat"].to_numpy(), finnmark["lon"].to_numpy())
    regions = list(ba.weights["region"].values)
    mean = apart.sum() / (apart.size - len(finnmark))
    assert ba.distance[regions.index("135"), regions.index("149")] == pytest.approx(mean, rel=1e-12)


def test_ba_distances_finite_symmetric_and_in_the_proximity(
    ba: BA,
) -> None:
    """Every pair of the 159 regions apart, symmetric, zero diagonal, within Norway's length; the third
    feature is their log distance over the median pair: Oslo/Bærum to Drammen below 0, to Tromsø above."""
    weights, distance = ba.weights, ba.distance
    off = ~np.eye(159, dtype=bool)
    assert distance.shape == (159, 159) and np.isfinite(distance).all()
    np.testing.assert_array_equal(distance, distance.T)
    assert np.all(np.diag(distance) == 0) and np.all(distance[off] > 0) and distance.max() < 1800
    proximity = division_proximity(weights, distance)
    assert proximity.shape == (3, 159, 159)
    np.testing.assert_allclose(proximity[2][off], np.log(distance[off] / np.median(distance[off])))
    regions = list(weights["region"].values)
    oslo = regions.index("005")
    assert proximity[2][oslo, regions.index("132")] > 0 > proximity[2][oslo, regions.index("006")]
