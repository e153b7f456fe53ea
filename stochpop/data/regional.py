"""Readers for Norway's regional data (`norway/regional/` of the shared data; README section norway/regional,
PROVENANCE-1 section 3, PROVENANCE-2 sections 1-3), tidy CSV files with a header:

| reader | file (DERIVED_...) | here |
|---|---|---|
| `read_regional_population` | csdata_pop_by_age_sex_b2024_*.csv.gz | persons on 1 January |
| `read_locations` | csdata_locations_hierarchy_b2024.csv.gz | municipality -> county, georegion |
| `read_municipality_names` | csdata_locations_names_b2024.csv.gz | municipality -> name |
| `read_ba_regions` | baregioner_2024.xlsx (not DERIVED) | municipality -> BA region |
| `read_nuts_events` | datacommons_eurostat_demo_r_gind3_norway_nuts.csv | births, deaths (year, nuts) |
| `read_landsdel_moves` | ssb_web_od_matrix_landsdel_*.csv | moves (year, origin, destination) |
| `read_county_moves` | ssb_web_od_matrix_fylke_partial_*.csv | moves into counties 01-10 |
| `read_telemark_changes` | evensrii_Telemark_befolkningsendringer_*.csv | components (year, municipality) |
| `read_county_domestic_moves` | ssb_web_population_changes_by_county_*.csv | moves between counties |
| `read_county_in_migration_by_age` | ssb_web_in_migration_by_county_and_age_2010.csv | in-moves by age |
| `read_telemark_county_moves` | telemark/Flytteamatrise fylker panda.csv (not DERIVED) | Telemark's moves |
| `read_municipality_coordinates` | telemark/*flytting_*_telemarkskommuner.csv (not DERIVED) | coordinates |

Regions. Populations are on 2024 borders (15 counties, 357 municipalities, 2005-2024; the nation from
1986); a region is the code after "county_nor" or "municip_nor" ("03", "0301"), the nation "NO". Ages
0..105, 105 open (attrs open_age). The municipality file lacks two municipality-years (1160 Vindafjord and
1576 Aure in 2005): NaN there, named in attrs missing. `group_regions` sums municipalities into any
grouping given as a table (municipality -> group), e.g. the counties of `read_locations` or SSB's 159
labour-market (BA) regions of `read_ba_regions` (the hierarchy file's BA columns are empty).

Events. Eurostat's county births and deaths are on the borders of their year: the 19 old counties
(NUTS 2016) to 2019, the 11 counties of 2020 (NUTS 2021) for 2020-2022, Trøndelag (NO060) back-cast over
the whole period; `NUTS_UNITS` maps them to the 2024 counties. Missing values are NaN.
"""

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import xarray as xr
from openpyxl.utils.exceptions import InvalidFileException

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
    row_code, codes = pd.factorize(table["location_code"], use_na_sentinel=False)  # the regex once per code
    extracted = pd.Series(codes).str.extract(r"^[a-z]+_nor(\w*)$")[0].replace("", "NO")
    regions = pd.Series(extracted.to_numpy()[row_code], index=table.index)
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


def read_municipality_names(path: str | Path) -> pd.Series:
    """The csdata location names (columns location_code, location_name, granularity_geo) -> each
    municipality's name (index: code "0301"), Sami and Kven names joined by "-" as the file writes them
    ("Oslo-Oslove", "Deatnu-Tana"); the same name can stand in two counties (Herøy, Våler). Validated:
    readable codes, no blank name, one row per municipality."""
    path = Path(path)
    table = read_csv_table(path, {"location_code", "location_name", "granularity_geo"})
    table = table[table["granularity_geo"] == "municip"]
    if table.empty:
        raise DataError(path, "granularity_geo", "no rows of granularity 'municip'")
    codes = table["location_code"].str.extract(r"^municip_nor(\d{4})$")[0]
    if codes.isna().any():
        raise DataError(path, "location_code", f"'{table['location_code'][codes.isna()].iloc[0]}' unreadable")
    names = table["location_name"].str.strip()
    if names.eq("").any():
        raise DataError(path, "location_name", f"blank for '{table['location_code'][names.eq('')].iloc[0]}'")
    if codes.duplicated().any():
        raise DataError(path, "location_code", f"'{codes[codes.duplicated()].iloc[0]}' named twice")
    return pd.Series(names.to_numpy(), index=pd.Index(codes.to_numpy(), name="municipality"), name="name")


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


BA_SHEET = "Etter kommune"
"""The sheet of baregioner_2024.xlsx with one row per municipality."""

BA_RECODES = {"1567": "5061", "3444": "3236", "3445": "3234"}
"""Codes in baregioner_2024.xlsx older than 2024's: Rindal (1567, in Trøndelag since 2019 as 5061), Jevnaker
(3444) and Lunner (3445), moved from Innlandet to Akershus in 2024 (3236, 3234). The file's header says
municipalities "per 1. januar 2020", but its other 354 codes are 2024's (Ålesund 1508 and Haram 1580, split
in 2024; the 2024 counties' 31xx-56xx)."""


def read_ba_regions(path: str | Path) -> pd.DataFrame:
    """SSB's labour-market regions (bo- og arbeidsmarkedsregioner, baregioner_2024.xlsx) -> one row per
    municipality (index: 2024 code "0301") with columns region (the BA number, three digits: "005") and
    region_name ("Oslo/Bærum"). Read from sheet `BA_SHEET`: column A "Kommune" ("0301 Oslo"), column B
    "BA-region" ("05 Oslo/Bærum"; the number is written "5" elsewhere); the commuting columns C-F are not
    read. Codes are moved to 2024 by `BA_RECODES`. The file places each of Norway's 357 municipalities in
    one of 159 regions, 78 of them a single municipality, Oslo/Bærum 20. Validated: each municipality
    once, each region number with one name."""
    path = Path(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True)
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err
    except (zipfile.BadZipFile, InvalidFileException, KeyError) as err:
        raise DataError(path, "file", f"not an xlsx workbook: {err}") from err
    if BA_SHEET not in book.sheetnames:
        raise DataError(path, "sheet", f"no sheet '{BA_SHEET}'; found {book.sheetnames}")
    rows = [row[:2] for row in book[BA_SHEET].iter_rows(values_only=True)]
    book.close()
    header, body = rows[0], [row for row in rows[1:] if any(cell is not None for cell in row)]
    if tuple(str(cell).split(" ")[0] for cell in header) != ("Kommune", "BA-region"):
        raise DataError(path, f"{BA_SHEET} header", f"columns A, B are {header}; expected Kommune, BA-region")
    table = pd.DataFrame(body, columns=["municipality", "region"], dtype=str).fillna("")
    parts = {
        column: table[column].str.strip().str.extract(pattern)
        for column, pattern in (("municipality", r"^(\d{4}) (.+)$"), ("region", r"^(\d{1,3}) (.+)$"))
    }
    for column, part in parts.items():
        if part[0].isna().any():
            row = int(part.index[part[0].isna()][0]) + 2
            raise DataError(path, f"{BA_SHEET} row {row}", f"{column} '{table[column][row - 2]}' unreadable")
    municipality = parts["municipality"][0].replace(BA_RECODES)
    regions = pd.DataFrame(
        {"region": parts["region"][0].astype(int).map("{:03d}".format), "region_name": parts["region"][1]}
    ).set_index(pd.Index(municipality, name="municipality"))
    if regions.index.duplicated().any():
        raise DataError(path, BA_SHEET, f"municipality {regions.index[regions.index.duplicated()][0]} twice")
    names = regions.groupby("region")["region_name"].nunique()
    if (names > 1).any():
        raise DataError(path, BA_SHEET, f"BA region {names.index[names > 1][0]} has two names")
    return regions


OLD_COUNTY_UNITS: dict[str, tuple[str, str]] = {
    "01": ("NO031", "31"),
    "02": ("NO012", "32"),
    "03": ("NO011", "03"),
    "04": ("NO021", "34"),
    "05": ("NO022", "34"),
    "06": ("NO032", "33"),
    "07": ("NO033", "39"),
    "08": ("NO034", "40"),
    "09": ("NO041", "42"),
    "10": ("NO042", "42"),
    "11": ("NO043", "11"),
    "12": ("NO051", "46"),
    "14": ("NO052", "46"),
    "15": ("NO053", "15"),
    "16": ("NO061", "50"),
    "17": ("NO062", "50"),
    "18": ("NO071", "18"),
    "19": ("NO072", "55"),
    "20": ("NO073", "56"),
}
"""The 19 counties before 2018 by number -> (their Eurostat NUTS 2016 unit, the 2024 county they lie in).
Municipal border moves since (Røyken and Hurum, Jevnaker and Lunner to Akershus; Rindal to Trøndelag)
make the old county differ from its part of the 2024 county; Sør- and Nord-Trøndelag have NUTS rows to
2017 only."""

NATION = "00"
"""The nation's code among the old county codes of the county flow readers."""


def _county_codes(labels: pd.Series, path: Path, field: str) -> np.ndarray:
    """Old county codes from labels "01 Østfold" (or "01"), NATION from "0", "00" or "... landet"."""
    text = labels.str.strip()
    codes = text.str.extract(r"^(\d\d?)(?:\s|$)")[0].str.zfill(2)
    codes = codes.where(~text.str.endswith("landet"), NATION)
    unknown = codes.isna() | ~codes.isin([*OLD_COUNTY_UNITS, NATION])
    if unknown.any():
        raise DataError(path, field, f"'{text[unknown].iloc[0]}' is not an old county or the nation")
    return codes.to_numpy()


def _county_flows(
    year: pd.Series, county: np.ndarray, flows: dict[str, pd.Series], path: Path
) -> xr.DataArray:
    """Rows of year, county and one column per flow -> counts (year, flow, county)."""
    typed = pd.DataFrame(
        {
            "year": np.repeat(_counts(year, path, "year").astype(int), len(flows)),
            "county": np.repeat(county, len(flows)),
            "flow": np.tile(list(flows), len(county)),
        }
    )
    values = np.column_stack([_counts(column, path, name) for name, column in flows.items()]).ravel()
    data = _grid(typed, ["year", "flow", "county"], values, path).sel(flow=["immigration", "emigration"])
    return data.assign_attrs(source=str(path), units="persons moving in the year")


def read_county_international(path: str | Path) -> xr.DataArray:
    """SSB web tables of moves from and to abroad by old county, one year each -> immigration and
    emigration (year, flow, county), county the old number ("01") or NATION: the population changes
    (`..._population_changes_by_county_{2008,2011}.csv`, columns in_migration_from_abroad and
    out_migration_to_abroad; landsdel rows dropped; counties cut off in the page are absent) or the
    moves by county and child age (`..._immigration_emigration_by_county_and_child_age_2008.csv`, the
    all-ages columns)."""
    path = Path(path)
    table = read_csv_table(path, {"year", "region"})
    pairs = (
        ("in_migration_from_abroad", "out_migration_to_abroad"),
        ("immigration_all_ages", "emigration_all_ages"),
    )
    columns = next((pair for pair in pairs if set(pair) <= set(table.columns)), None)
    if columns is None:
        raise DataError(path, "header", f"neither of the column pairs {pairs}; found {list(table.columns)}")
    if "level" in table.columns:
        table = table[table["level"] != "landsdel"].reset_index(drop=True)
    flows = {"immigration": table[columns[0]], "emigration": table[columns[1]]}
    return _county_flows(table["year"], _county_codes(table["region"], path, "region"), flows, path)


def read_imdi_county_flows(path: str | Path) -> xr.DataArray:
    """IMDi's gross flows to and from abroad by old county, all persons -> immigration and emigration
    (year, flow, county), county the old number or NATION; from `befolkning_flytting.csv` (2013:
    fylke_nr, innvkat_3) or `befolkning_flytting_FL_2014.csv` (2014: fylke_id, invkat_2, vreg_3). IMDi's
    county "99" (unknown) must be empty and is dropped."""
    path = Path(path)
    table = read_csv_table(path, {"aar", "flytting", "tabellvariabel"})
    county = next((c for c in ("fylke_nr", "fylke_id") if c in table.columns), None)
    category = next((c for c in ("innvkat_3", "invkat_2") if c in table.columns), None)
    if county is None or category is None:
        raise DataError(path, "header", f"no county or immigrant-category column in {list(table.columns)}")
    keep = table[category].eq("alle") & table[county].ne("NULL")
    keep &= table["flytting"].isin(["innvandring", "utvandring"])
    for column in ("vreg_3", "bydel_nr", "kommune_nr", "naringsregion_nr"):
        if column in table.columns:
            keep &= table[column].isin(["alle", "NULL"])
    rows = table[keep]
    unknown = rows[county].eq("99")
    if _counts(rows.loc[unknown, "tabellvariabel"], path, "tabellvariabel").sum() > 0:
        raise DataError(path, county, "county 99 (unknown) holds persons")
    rows = rows[~unknown].reset_index(drop=True)
    if rows.duplicated(["aar", county, "flytting"]).any():
        raise DataError(path, "rows", f"duplicate {county} rows of one flow")
    wide = rows.pivot(index=["aar", county], columns="flytting", values="tabellvariabel").reset_index()
    if wide[["innvandring", "utvandring"]].isna().any(axis=None):
        raise DataError(path, "flytting", "a county lacks its innvandring or utvandring row")
    flows = {"immigration": wide["innvandring"], "emigration": wide["utvandring"]}
    return _county_flows(wide["aar"], _county_codes(wide[county], path, county), flows, path)


def read_county_domestic_moves(path: str | Path) -> xr.DataArray:
    """SSB's population changes by county of one year (`..._population_changes_by_county_{2008,2011}.csv`)
    -> domestic moves between counties (year, flow, county): flow "in" (in_migration_total minus
    in_migration_from_abroad) and "out" (out_migration_total minus out_migration_to_abroad), county the
    old number ("01"); moves within a county are not in them. The nation's and the landsdeler's rows are
    dropped; counties cut off in the page are absent."""
    path = Path(path)
    columns = {
        "in": ("in_migration_total", "in_migration_from_abroad"),
        "out": ("out_migration_total", "out_migration_to_abroad"),
    }
    table = read_csv_table(path, {"year", "level", "region", *(c for pair in columns.values() for c in pair)})
    table = table[table["level"] == "county"].reset_index(drop=True)
    if table.empty:
        raise DataError(path, "level", "no county rows")
    county = _county_codes(table["region"], path, "region")
    typed = pd.DataFrame(
        {
            "year": np.repeat(_counts(table["year"], path, "year").astype(int), len(columns)),
            "county": np.repeat(county, len(columns)),
            "flow": np.tile(list(columns), len(county)),
        }
    )
    domestic = np.column_stack(
        [
            _counts(table[total], path, total) - _counts(table[abroad], path, abroad)
            for total, abroad in columns.values()
        ]
    )
    if (domestic < 0).any():
        raise DataError(
            path, "in/out_migration_total", "a county's total is below its moves from or to abroad"
        )
    data = _grid(typed, ["year", "flow", "county"], domestic.ravel(), path)
    return data.assign_attrs(source=str(path), units="moves between counties in the year")


def read_county_in_migration_by_age(path: str | Path) -> xr.DataArray:
    """SSB's in-migration by county and age group of one year (`..._in_migration_by_county_and_age_2010.csv`:
    moves from other counties and from abroad, both sexes) -> moves (year, county, age_group), county the
    old number or NATION ("Hele landet (sum fylker)"), age groups as labelled ("0-5", ..., "67+"; the
    "total" column dropped) with coords first_age and last_age (OPEN_AGE for an open group)."""
    path = Path(path)
    table = read_csv_table(path, {"year", "sex", "county", "age_group", "persons"})
    if not table["sex"].eq("both").all():
        raise DataError(path, "sex", f"'{table['sex'][table['sex'] != 'both'].iloc[0]}'; expected both")
    table = table[table["age_group"] != "total"].reset_index(drop=True)
    bounds = table["age_group"].str.extract(r"^(\d+)(?:-(\d+)|(\+))$")
    if bounds[0].isna().any():
        raise DataError(
            path, "age_group", f"'{table['age_group'][bounds[0].isna()].iloc[0]}' is not 'a-b' or 'a+'"
        )
    county = table["county"].str.replace(r"\s*\(sum fylker\)$", "", regex=True)
    typed = pd.DataFrame(
        {
            "year": _counts(table["year"], path, "year").astype(int),
            "county": _county_codes(county, path, "county"),
            "age_group": table["age_group"],
        }
    )
    data = _grid(typed, ["year", "county", "age_group"], _counts(table["persons"], path, "persons"), path)
    first = bounds[0].astype(int).groupby(table["age_group"]).first()
    last = bounds[1].fillna(str(OPEN_AGE)).astype(int).groupby(table["age_group"]).first()
    order = first.loc[data["age_group"].values].sort_values().index
    data = data.sel(age_group=order).assign_coords(
        first_age=("age_group", first.loc[order].to_numpy()),
        last_age=("age_group", last.loc[order].to_numpy()),
    )
    return data.assign_attrs(source=str(path), units="moves in the year")


def read_telemark_county_moves(path: str | Path) -> xr.DataArray:
    """Telemark's moves to and from each other county (`telemark/Flytteamatrise fylker panda.csv`, ';',
    columns Fra;Til;Antall personer;År, 2024 county names) -> moves (year, origin, destination) by county
    name ("Møre og Romsdal"), NaN for pairs not published."""
    path = Path(path)
    try:
        table = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataError(path, "table", f"cannot parse rows: {err}") from err
    missing = {"Fra", "Til", "Antall personer", "År"} - set(table.columns)
    if missing:
        raise DataError(path, "header", f"columns {sorted(missing)} missing; found {list(table.columns)}")
    typed = pd.DataFrame(
        {
            "year": _counts(table["År"], path, "År").astype(int),
            "origin": table["Fra"].str.strip(),
            "destination": table["Til"].str.strip(),
        }
    )
    moves = _grid(
        typed,
        ["year", "origin", "destination"],
        _counts(table["Antall personer"], path, "Antall personer"),
        path,
        False,
    )
    return moves.assign_attrs(source=str(path), units="moves in the year").rename("moves")


def read_municipality_coordinates(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Municipality coordinates from Telemark's municipality flow tables (`telemark/tilflytting_til_
    telemarkskommuner.csv`, `telemark/fraflytting_fra_telemarkskommuner.csv`: columns Fra/Til kommune,
    Fra/Til fylke, Fra/Til lat, Fra/Til lon) -> one row per municipality seen (columns municipality,
    county: the 2024 county name, lat, lon in degrees). The tables hold the municipalities that exchanged
    movers with Telemark in 2025 (285 of 357). Validated: numeric coordinates, one place per municipality."""
    frames = []
    for path in map(Path, paths):
        table = read_csv_table(
            path, {f"{end} {field}" for end in ("Fra", "Til") for field in ("kommune", "fylke", "lat", "lon")}
        )
        for end in ("Fra", "Til"):
            frame = table[[f"{end} kommune", f"{end} fylke", f"{end} lat", f"{end} lon"]]
            frame = frame.set_axis(["municipality", "county", "lat", "lon"], axis=1)
            for field in ("lat", "lon"):
                values = pd.to_numeric(frame[field], errors="coerce")
                if values.isna().any():
                    raise DataError(
                        path, f"{end} {field}", f"'{frame[field][values.isna()].iloc[0]}' is not a number"
                    )
                frame = frame.assign(**{field: values})
            frames.append(frame)
    places = pd.concat(frames).drop_duplicates().reset_index(drop=True)
    twice = places.duplicated(["municipality", "county"])
    if twice.any():
        raise DataError(
            paths[0], "lat/lon", f"municipality {places['municipality'][twice].iloc[0]} in two places"
        )
    return places
