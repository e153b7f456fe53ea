"""Readers for Norway's regional data (`norway/regional/` of the shared data; README section norway/regional,
PROVENANCE-1 section 3, PROVENANCE-2 sections 1-3), tidy CSV files with a header:

| reader | file (DERIVED_...) | here |
|---|---|---|
| `read_regional_population` | csdata_pop_by_age_sex_b2024_*.csv.gz | persons on 1 January |
| `read_locations` | csdata_locations_hierarchy_b2024.csv.gz | municipality -> county, georegion |
| `read_nuts_events` | datacommons_eurostat_demo_r_gind3_norway_nuts.csv | births, deaths (year, nuts) |
| `read_landsdel_moves` | ssb_web_od_matrix_landsdel_*.csv | moves (year, origin, destination) |
| `read_county_moves` | ssb_web_od_matrix_fylke_partial_*.csv | moves into counties 01-10 |
| `read_telemark_changes` | evensrii_Telemark_befolkningsendringer_*.csv | components (year, municipality) |

Regions. Populations are on 2024 borders (15 counties, 357 municipalities, 2005-2024; the nation from
1986); a region is the code after "county_nor" or "municip_nor" ("03", "0301"), the nation "NO". Ages
0..105, 105 open (attrs open_age). The municipality file lacks two municipality-years (1160 Vindafjord and
1576 Aure in 2005): NaN there, named in attrs missing. `group_regions` sums municipalities into any
grouping given as a table (municipality -> group), e.g. the counties of `read_locations`. SSB's
labour-market (BA) regions are in baregioner_2024.xlsx, which needs openpyxl (not a dependency) and has
no reader here; the hierarchy file's BA columns are empty.

Events. Eurostat's county births and deaths are on the borders of their year: the 19 old counties
(NUTS 2016) to 2019, the 11 counties of 2020 (NUTS 2021) for 2020-2022, Trøndelag (NO060) back-cast over
the whole period; `NUTS_UNITS` maps them to the 2024 counties. Missing values are NaN.
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.errors import DataError

OPEN_AGE = 105
"""The populations' open age (105 years or older)."""

NUTS_UNITS: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[int, int]], ...] = (
    (("NO011",), ("03",), (2000, 2019)),
    (("NO012",), ("32",), (2000, 2019)),
    (("NO021", "NO022"), ("34",), (2000, 2019)),
    (("NO031",), ("31",), (2000, 2019)),
    (("NO032",), ("33",), (2000, 2019)),
    (("NO033",), ("39",), (2000, 2019)),
    (("NO034",), ("40",), (2000, 2019)),
    (("NO041", "NO042"), ("42",), (2000, 2019)),
    (("NO043",), ("11",), (2000, 2019)),
    (("NO051", "NO052"), ("46",), (2000, 2019)),
    (("NO053",), ("15",), (2000, 2019)),
    (("NO072",), ("55",), (2000, 2019)),
    (("NO073",), ("56",), (2000, 2019)),
    (("NO060",), ("50",), (2000, 2022)),
    (("NO071",), ("18",), (2000, 2022)),
    (("NO081",), ("03",), (2020, 2022)),
    (("NO082",), ("31", "32", "33"), (2020, 2022)),
    (("NO020",), ("34",), (2020, 2022)),
    (("NO091",), ("39", "40"), (2020, 2022)),
    (("NO092",), ("42",), (2020, 2022)),
    (("NO0A1",), ("11",), (2020, 2022)),
    (("NO0A2",), ("46",), (2020, 2022)),
    (("NO0A3",), ("15",), (2020, 2022)),
    (("NO074",), ("55", "56"), (2020, 2022)),
)
"""Eurostat units -> 2024 counties: (NUTS codes summed, counties they cover, first and last year). Old
counties merged since (Hedmark + Oppland, Aust- + Vest-Agder, Hordaland + Sogn og Fjordane) are summed;
a 2020 county split in 2024 (Viken, Vestfold og Telemark, Troms og Finnmark) covers several. Municipal
border changes of 2018-2024 (e.g. Røyken and Hurum from Buskerud to Asker, Akershus) make a unit's
population differ from its counties' on 2024 borders (`stochpop.regions.levels` corrects by the ratio)."""


def read_csv_table(path: Path, columns: set[str]) -> pd.DataFrame:
    """A CSV file with at least `columns` (every column read as text), at least one row."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(path, "table", f"cannot parse rows: {err}") from err
    missing = columns - set(table.columns)
    if missing:
        raise DataError(path, "header", f"columns {sorted(missing)} missing; found {list(table.columns)}")
    if table.empty:
        raise DataError(path, "table", "no data rows")
    return table


def _counts(text: pd.Series, path: Path, field: str, blank: bool = False) -> np.ndarray:
    """Non-negative whole numbers written as "12" or "12.0"; blank cells are NaN where `blank`."""
    values = pd.to_numeric(text.str.strip().replace("", np.nan if blank else "x"), errors="coerce")
    bad = (values.isna() & ~(text.str.strip().eq("") & blank)) | (values < 0) | (values % 1 > 0)
    if bad.any():
        raise DataError(path, field, f"'{text[bad].iloc[0]}' is not a non-negative whole number")
    return values.to_numpy(dtype=float)


def _grid(
    table: pd.DataFrame, keys: list[str], values: np.ndarray, path: Path, complete: bool = True
) -> xr.DataArray:
    """Rows keyed by `keys` columns (already typed) -> a DataArray over every combination: every cell must
    have its row if `complete`, else absent cells are NaN."""
    index = pd.MultiIndex.from_frame(table[keys])
    if index.duplicated().any():
        first = dict(zip(keys, index[index.duplicated()][0], strict=True))
        raise DataError(path, "rows", f"duplicate row for {first}")
    series = pd.Series(values, index=index)
    levels = [sorted(table[key].unique()) for key in keys]
    full = pd.MultiIndex.from_product(levels, names=keys)
    absent = full.difference(index)
    if len(absent) and complete:
        cell = dict(zip(keys, absent[0], strict=True))
        raise DataError(path, "rows", f"no row for {cell} ({len(absent)} cells missing)")
    shape = [len(level) for level in levels]
    return xr.DataArray(
        series.reindex(full).to_numpy().reshape(shape), dims=keys, coords=dict(zip(keys, levels, strict=True))
    )


def read_regional_population(path: str | Path, granularity: str | None = None) -> xr.DataArray:
    """A csdata population file -> persons on 1 January (year, region, sex, age 0..105, 105 open), regions
    as codes ("03", "0301"). `granularity` ("county", "georegion", "nation") picks rows of the
    nation/county/georegion file; the municipality file has no such column (None). Validated: sexes
    female and male, ages 0..105, whole non-negative counts, one row per cell; a region-year is either
    whole or absent (NaN, listed in attrs missing as "region:year")."""
    path = Path(path)
    table = read_csv_table(path, {"location_code", "age", "sex", "calyear", "pop_jan1_n"})
    if granularity is not None:
        if "granularity_geo" not in table.columns:
            raise DataError(path, "granularity_geo", f"no such column to pick '{granularity}' rows")
        table = table[table["granularity_geo"] == granularity]
        if table.empty:
            raise DataError(path, "granularity_geo", f"no rows of granularity '{granularity}'")
    if not table["sex"].isin(SEXES).all():
        bad = table["sex"][~table["sex"].isin(SEXES)].iloc[0]
        raise DataError(path, "sex", f"unknown label '{bad}'; expected {list(SEXES)}")
    regions = table["location_code"].str.extract(r"^[a-z]+_nor(\w*)$")[0].replace("", "NO")
    if regions.isna().any():
        raise DataError(
            path, "location_code", f"'{table['location_code'][regions.isna()].iloc[0]}' unreadable"
        )
    typed = pd.DataFrame(
        {
            "year": _counts(table["calyear"], path, "calyear").astype(int),
            "region": regions.to_numpy(),
            "sex": table["sex"].to_numpy(),
            "age": _counts(table["age"], path, "age").astype(int),
        }
    )
    data = _grid(
        typed, ["year", "region", "sex", "age"], _counts(table["pop_jan1_n"], path, "pop_jan1_n"), path, False
    )
    absent = data.isnull()
    partly = absent.any(["sex", "age"]) & ~absent.all(["sex", "age"])
    if partly.any():
        where = partly.where(partly, drop=True).stack(cell=["year", "region"])["cell"].values[0]
        raise DataError(path, "rows", f"region {where[1]} in {where[0]} has some cells but not all")
    whole = absent.all(["sex", "age"]).stack(cell=["region", "year"])
    missing = [f"{region}:{year}" for region, year in whole["cell"].values[whole.values]]
    if not np.array_equal(data["age"].values, np.arange(OPEN_AGE + 1)):
        raise DataError(path, "age", f"ages {data['age'].values.tolist()}; expected 0..{OPEN_AGE}")
    data = data.sel(sex=list(SEXES))
    data.attrs = {
        "source": str(path),
        "open_age": OPEN_AGE,
        "units": "persons on 1 January",
        "missing": missing,
    }
    return data.rename("population")


def read_locations(path: str | Path) -> pd.DataFrame:
    """The csdata location hierarchy -> one row per municipality (index: code "0301") with columns county
    ("03"), county_name, georegion ("5"), georegion_name (the file repeats a city for each ward). Validated:
    each municipality in one county and georegion."""
    path = Path(path)
    table = read_csv_table(
        path, {"municip_code", "county_code", "county_name", "georegion_code", "georegion_name"}
    )
    table = table[table["municip_code"] != ""]
    codes = {
        column: table[f"{column}_code"].str.extract(r"^[a-z]+_nor(\w+)$")[0]
        for column in ("municip", "county", "georegion")
    }
    for column, code in codes.items():
        if code.isna().any():
            raise DataError(
                path, f"{column}_code", f"'{table[f'{column}_code'][code.isna()].iloc[0]}' unreadable"
            )
    locations = pd.DataFrame(
        {
            "county": codes["county"].to_numpy(),
            "county_name": table["county_name"].to_numpy(),
            "georegion": codes["georegion"].to_numpy(),
            "georegion_name": table["georegion_name"].to_numpy(),
        },
        index=pd.Index(codes["municip"].to_numpy(), name="municipality"),
    )
    placements = locations.groupby(level=0).nunique()
    if (placements > 1).any(axis=None):
        twice = placements.index[(placements > 1).any(axis=1)][0]
        raise DataError(path, "municip_code", f"'{twice}' placed in two counties or georegions")
    return locations[~locations.index.duplicated()]


def group_regions(
    population: xr.DataArray, groups: Mapping[str, str], source: str = "groups"
) -> xr.DataArray:
    """Municipal populations (..., region, ...) summed into the groups of `groups` (municipality code ->
    group label; any grouping, e.g. `read_locations(...)["county"]`): the region dim then holds the groups
    in sorted order. Every municipality of `population` must have a group (`source` names the table)."""
    municipalities = [str(code) for code in population["region"].values]
    ungrouped = [code for code in municipalities if code not in groups]
    if ungrouped:
        raise DataError(source, "municipality", f"{ungrouped[:5]} have no group ({len(ungrouped)} in all)")
    labels = xr.DataArray([groups[code] for code in municipalities], dims="region")
    grouped = population.groupby(labels.rename("group")).sum().rename(group="region")
    grouped.attrs = population.attrs
    return grouped


def read_nuts_events(path: str | Path) -> xr.Dataset:
    """Eurostat demo_r_gind3 rows for Norway -> a Dataset (year, nuts) of population (1 January),
    births, deaths (NaN where not published, and for years outside a unit's life) with coords region
    (name) and level; attrs rounded_units: NUTS codes whose early values Eurostat rounded (to 100 or 10;
    the county births of 2005-2006 are also multiples of 10)."""
    path = Path(path)
    names = {"population_jan1": "population", "live_births": "births", "deaths": "deaths"}
    table = read_csv_table(
        path, {"nuts_code", "level", "region", "year", *names, "births_deaths_rounded_by_eurostat"}
    )
    typed = pd.DataFrame(
        {"year": _counts(table["year"], path, "year").astype(int), "nuts": table["nuts_code"]}
    )
    variables = {
        name: _grid(
            typed, ["year", "nuts"], _counts(table[column], path, column, blank=True), path, complete=False
        )
        for column, name in names.items()
    }
    by_code = table.drop_duplicates("nuts_code").set_index("nuts_code")
    events = xr.Dataset(variables).assign_coords(
        region=("nuts", by_code.loc[variables["births"]["nuts"].values, "region"].to_numpy()),
        level=("nuts", by_code.loc[variables["births"]["nuts"].values, "level"].to_numpy()),
    )
    rounded = sorted(set(table.loc[table["births_deaths_rounded_by_eurostat"] == "yes", "nuts_code"]))
    events.attrs = {"source": str(path), "rounded_units": rounded, "units": "persons; events in the year"}
    return events


def _moves(table: pd.DataFrame, path: Path, origin: str, destination: str) -> xr.DataArray:
    """Rows of an origin-destination table -> moves (year, origin, destination), NaN where blank."""
    typed = pd.DataFrame(
        {
            "year": _counts(table["year"], path, "year").astype(int),
            "origin": table[origin].str.strip(),
            "destination": table[destination].str.strip(),
        }
    )
    return _grid(typed, ["year", "origin", "destination"], _counts(table["moves"], path, "moves", True), path)


def read_landsdel_moves(path: str | Path) -> xr.DataArray:
    """SSB's moves between municipalities within and between the 7 landsdeler (2000, 2001, 2003, 2004) ->
    moves (year, origin, destination); the diagonal holds moves within a landsdel. No age or sex."""
    path = Path(path)
    moves = _moves(
        read_csv_table(path, {"year", "from_landsdel", "to_landsdel", "moves"}),
        path,
        "from_landsdel",
        "to_landsdel",
    )
    if moves.isnull().any():
        raise DataError(path, "moves", "blank cells in a matrix published complete")
    moves.attrs = {"source": str(path), "units": "moves in the year"}
    return moves.rename("moves")


def read_county_moves(path: str | Path) -> xr.Dataset:
    """SSB's county matrix 2004-2011 of which only destinations 01-10 survive -> a Dataset: moves (year,
    origin, destination) from the 19 old counties (origin names like "01 Østfold"; "19 Troms Romsa" read
    as "19 Troms") and "Utlandet" (abroad) into counties 01-10, NaN where blank (Oslo -> Oslo, a single
    municipality); out_total (year, origin): each origin's moves to all destinations, within its county
    and abroad included. The "I alt" column totals are dropped (they equal the column sums)."""
    path = Path(path)
    table = read_csv_table(path, {"year", "from_region", "to_county", "moves", "from_total_all_destinations"})
    table = table[~table["from_region"].str.startswith("I alt")].copy()
    table["from_region"] = table["from_region"].str.replace(r"^(\d\d \S+) \S+$", r"\1", regex=True)
    moves = _moves(table, path, "from_region", "to_county")
    totals = pd.DataFrame(
        {
            "year": _counts(table["year"], path, "year").astype(int),
            "origin": table["from_region"].str.strip().to_numpy(),
            "total": _counts(table["from_total_all_destinations"], path, "from_total_all_destinations", True),
        }
    )
    out_total = totals.groupby(["year", "origin"])["total"].first().to_xarray()
    return xr.Dataset({"moves": moves, "out_total": out_total}, attrs={"source": str(path), "units": "moves"})


TELEMARK_COMPONENTS = (
    "population_jan1",
    "live_births",
    "deaths",
    "immigration",
    "emigration",
    "in_migration_domestic",
    "out_migration_domestic",
    "population_growth",
    "population_end_of_year",
)
"""The gross components of SSB table 01222 kept for Telemark's municipalities (persons)."""


def read_telemark_changes(path: str | Path) -> xr.Dataset:
    """SSB 01222 for Telemark's 17 municipalities (2024 borders), 1997-2025 -> a Dataset of
    `TELEMARK_COMPONENTS` (year, municipality). Domestic moves include moves within the county."""
    path = Path(path)
    table = read_csv_table(path, {"year", "kommune", *TELEMARK_COMPONENTS})
    typed = pd.DataFrame(
        {"year": _counts(table["year"], path, "year").astype(int), "municipality": table["kommune"]}
    )
    signed = {"population_growth"}
    return xr.Dataset(
        {
            name: _grid(
                typed,
                ["year", "municipality"],
                pd.to_numeric(table[name]).to_numpy(float)
                if name in signed
                else _counts(table[name], path, name),
                path,
            )
            for name in TELEMARK_COMPONENTS
        },
        attrs={"source": str(path), "units": "persons; events in the year"},
    )
