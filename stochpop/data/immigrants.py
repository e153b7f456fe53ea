"""Readers for Norway's registered immigrant population and migration flows (IMDi exports of SSB tables,
SSB web tables, Eurostat) and SSB's country groups.

All return xarray with named dims: persons (stocks on 1 January, ages in completed years) or events (the
year's flows). IMDi's long tables are ';'-separated, `tabell_navn;aar;fylke_id;<breakdowns>;enhet;
tabellvariabel`, kjonn 1 = male, 0 = female; their "alle" (all) rows are dropped and the parts kept.
Bad input raises one `DataError` naming the file, the field and the problem.

Country groups (reference `ssb-2018-projections.txt`, Appendix B): 1 = the old EU/EEA/EFTA countries,
the UK and its islands, the USA, Canada, Bermuda, Australia and New Zealand; 2 = the eleven eastern EU
members; 3 = the rest of the world. `COUNTRY_GROUP_NAMES` lists groups 1 and 2 by the Norwegian country
names of IMDi's country-background export (every other country, "Andre", "Statsløs" and "Uoppgitt":
group 3); `WORLD_REGION_GROUPS` maps IMDi's 9 world regions to the groups (exact for group 2, the region
"eu_ost_europa"; approximate for 1 and 3: "nord_amerika_oseania" also holds the small Pacific islands of
group 3, and Cyprus, group 1, is counted in Asia).
"""

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.data.errors import DataError

SEX_CODES: dict[str, str] = {"0": "female", "1": "male"}
AGE_GROUPS: tuple[str, ...] = ("0-5", "6-15", "16-19", "20-29", "30-54", "55-66", "67+")
"""IMDi's age groups (completed years on 1 January), 67+ open."""
AGE_GROUP_FIRST: tuple[int, ...] = (0, 6, 16, 20, 30, 55, 67)
DURATION_CLASSES: tuple[str, ...] = ("0_4", "5_9", "10+")
"""IMDi's duration-of-stay classes: completed years since first immigration on 1 January, 10+ open."""
DURATION_CLASS_FIRST: tuple[int, ...] = (0, 5, 10)
CATEGORIES: tuple[str, ...] = ("immigrants", "norwegian_born", "rest")
"""Immigrants; Norwegian-born to two immigrant parents; everyone else (IMDi's bef_u_innv_og_norskf)."""

WORLD_REGION_GROUPS: dict[str, int] = {
    "norden": 1,
    "vest_europa": 1,
    "nord_amerika_oseania": 1,
    "eu_ost_europa": 2,
    "ost_europa_ellers": 3,
    "asia": 3,
    "afrika": 3,
    "sor_og_mellom_amerika": 3,
}
"""IMDi's 9 world regions -> SSB's country groups (module docstring)."""

REGION2_GROUPS: dict[str, tuple[int, ...]] = {"1": (1, 2), "2": (3,)}
"""IMDi's 2 world regions (vreg_3 in the duration table) -> country groups: 1 = EU/EEA, USA, Canada,
Australia, New Zealand (groups 1 and 2), 2 = the rest (group 3). In 2015 region 1 holds 327 056
immigrants, the 9-region groups 1 + 2 326 967."""

COUNTRY_GROUP_NAMES: dict[str, int] = {
    **dict.fromkeys(
        (
            "Sverige", "Danmark", "Finland", "Island", "Færøyene", "Grønland", "Storbritannia", "Irland",
            "Man", "Guernsey", "Jersey", "Nederland", "Belgia", "Luxembourg", "Tyskland", "Frankrike",
            "Monaco", "Andorra", "Spania", "Portugal", "Gibraltar", "Malta", "Italia", "Vatikanstaten",
            "San Marino", "Sveits", "Liechtenstein", "Østerrike", "Hellas", "Kypros", "Canada", "USA",
            "Bermuda", "Australia", "New Zealand",
        ),
        1,
    ),
    **dict.fromkeys(
        (
            "Estland", "Latvia", "Litauen", "Polen", "Tsjekkia", "Slovakia", "Ungarn", "Romania",
            "Bulgaria", "Slovenia", "Kroatia",
        ),
        2,
    ),
}  # fmt: skip
"""Appendix B's groups 1 (34 countries and territories; "Channel Islands" = Guernsey and Jersey) and 2
by IMDi's Norwegian country names; every other name is group 3 (`country_group`)."""


def country_group(name: str) -> int:
    """SSB's country group (1, 2 or 3) of an IMDi country name (Appendix B)."""
    return COUNTRY_GROUP_NAMES.get(name, 3)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err


def _long_table(
    path: Path, breakdowns: tuple[str, ...], select: dict[str, str] | None = None
) -> pd.DataFrame:
    """An IMDi long table with `breakdowns` columns -> rows with year (int), the breakdowns (str, "alle"
    rows dropped) and value (float persons); `select` keeps the rows with these values of other columns."""
    text = _read_bytes(path).decode("utf-8", errors="replace")
    table = pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False)
    needed = ("aar", *breakdowns, *(select or {}), "tabellvariabel")
    for column in needed:
        if column not in table.columns:
            raise DataError(path, column, f"column missing (found {list(table.columns)})")
    for column, value in (select or {}).items():
        table = table[table[column] == value]
    if "enhet" in table.columns:
        table = table[table["enhet"].str.startswith("person")]
    for column in breakdowns:
        table = table[table[column] != "alle"]
    years = pd.to_numeric(table["aar"], errors="coerce")
    values = pd.to_numeric(table["tabellvariabel"].str.replace(",", "."), errors="coerce")
    for name, parsed, raw in (("aar", years, "aar"), ("tabellvariabel", values, "tabellvariabel")):
        bad = parsed.isna().to_numpy()
        if bad.any():
            raise DataError(path, name, f"not a number: '{table[raw].iloc[int(np.argmax(bad))]}'")
    if (values < 0).any():
        raise DataError(path, "tabellvariabel", "negative count")
    rows = pd.DataFrame({"year": years.astype(int), **{c: table[c] for c in breakdowns}, "value": values})
    duplicated = rows.duplicated(["year", *breakdowns])
    if duplicated.any():
        raise DataError(path, "rows", f"duplicate row {rows[duplicated].iloc[0].tolist()[:-1]}")
    return rows


def _grid(
    rows: pd.DataFrame, dims: tuple[str, ...], coords: dict[str, tuple[str, ...]], path: Path
) -> xr.DataArray:
    """Rows -> a complete DataArray over `dims`; a missing combination is a DataError."""
    for dim, known in coords.items():
        unknown = sorted(set(rows[dim]) - set(known))
        if unknown:
            raise DataError(path, dim, f"unknown labels {unknown}")
    labels: list[list[object]] = [sorted(set(rows["year"]))] + [list(coords[d]) for d in dims[1:]]
    index = pd.MultiIndex.from_product(labels, names=dims)
    values = rows.set_index(list(dims))["value"].reindex(index)
    if values.isna().any():
        raise DataError(path, "rows", f"missing combination {values.index[values.isna()][0]}")
    return xr.DataArray(
        values.to_numpy().reshape([len(level) for level in labels]),
        coords={d: level for d, level in zip(dims, labels, strict=True)},
        dims=dims,
        attrs={"units": "persons", "source": str(path)},
    )


def read_imdi_age_groups(path: str | Path) -> xr.DataArray:
    """IMDi `befolkning_alder_*`: persons on 1 January (year, county, category, sex, age_group), category
    "immigrants" or "others" (everyone else, Norwegian-born to immigrant parents included), age groups
    `AGE_GROUPS`; county "00" is the nation."""
    path = Path(path)
    rows = _long_table(path, ("fylke_id", "innvkat_3", "kjonn", "alder_grupper"))
    rows = rows.rename(columns={"fylke_id": "county", "innvkat_3": "category", "alder_grupper": "age_group"})
    rows["category"] = rows["category"].replace(
        {"innvandrere": "immigrants", "befolkningen_ellers": "others"}
    )
    rows["sex"] = rows.pop("kjonn").map(SEX_CODES).fillna("?")
    counties = tuple(sorted(set(rows["county"])))
    return _grid(
        rows,
        ("year", "county", "category", "sex", "age_group"),
        {
            "county": counties,
            "category": ("immigrants", "others"),
            "sex": ("female", "male"),
            "age_group": AGE_GROUPS,
        },
        path,
    )


def read_imdi_duration(path: str | Path) -> xr.DataArray:
    """IMDi `befolkning_botid_L_*`: immigrants on 1 January (year, region2, duration_class), region2 "1"
    (country groups 1 and 2) or "2" (group 3, `REGION2_GROUPS`), classes `DURATION_CLASSES`."""
    path = Path(path)
    rows = _long_table(path, ("vreg_3", "botid_5")).rename(
        columns={"vreg_3": "region2", "botid_5": "duration_class"}
    )
    return _grid(
        rows,
        ("year", "region2", "duration_class"),
        {"region2": ("1", "2"), "duration_class": DURATION_CLASSES},
        path,
    )


def read_imdi_world_regions(path: str | Path) -> xr.DataArray:
    """IMDi `befolkning_verdensregion_9L`: immigrants on 1 January (year, world_region) over the 9 world
    regions of `WORLD_REGION_GROUPS`, both sexes."""
    path = Path(path)
    rows = _long_table(path, ("vreg_9",), {"kjonn": "alle"}).rename(columns={"vreg_9": "world_region"})
    return _grid(rows, ("year", "world_region"), {"world_region": tuple(WORLD_REGION_GROUPS)}, path)


_MAIN_GROUP_COLUMNS = {
    "innvandrere": "immigrants",
    "norskfodte_m_innvf": "norwegian_born",
    "bef_u_innv_og_norskf": "rest",
}


def read_imdi_main_groups(paths: list[str | Path] | list[Path]) -> xr.DataArray:
    """IMDi `hovedgruppe_fylke_1986_2015/01-befolkning_hovedgruppe-fylke-YYYY.csv` files (cp1252, wide,
    3 header rows innvkat_5 / kjonn / enhet, decimal comma): persons on 1 January YYYY (year, county,
    category, sex), categories `CATEGORIES`, county "00" the nation, "01".."20" the counties."""
    years: list[xr.DataArray] = []
    for item in paths:
        path = Path(item)
        stem = path.stem
        if not stem[-4:].isdigit():
            raise DataError(path, "file name", "no year YYYY at the end of the name")
        lines = _read_bytes(path).decode("cp1252", errors="replace").splitlines()
        header = [next(csv.reader([line], delimiter=";")) for line in lines[:3]]
        if len(header) < 3 or not header[0][1:] or not header[0][1].startswith("innvkat_5."):
            raise DataError(path, "header", "expected 3 header rows innvkat_5.* / kjonn.* / enhet.*")
        columns = [
            (category.removeprefix("innvkat_5."), sex.removeprefix("kjonn."), unit.removeprefix("enhet."))
            for category, sex, unit in zip(header[0][1:], header[1][1:], header[2][1:], strict=True)
        ]
        values = np.zeros((len(lines) - 3, len(CATEGORIES), 2))
        counties = []
        for row, line in enumerate(lines[3:]):
            fields = line.split(";")
            if len(fields) != len(columns) + 1:
                raise DataError(
                    path, "row", f"{fields[0]!r} has {len(fields) - 1} values, expected {len(columns)}"
                )
            counties.append(fields[0].split(" ")[0])
            for (category, sex, unit), text in zip(columns, fields[1:], strict=True):
                if unit != "personer" or category not in _MAIN_GROUP_COLUMNS or sex not in SEX_CODES:
                    continue
                try:
                    number = float(text.replace(",", "."))
                except ValueError:
                    raise DataError(
                        path, f"{category} {sex}", f"not a number: '{text}' in {fields[0]!r}"
                    ) from None
                if number < 0:
                    raise DataError(path, f"{category} {sex}", f"negative count in {fields[0]!r}")
                values[row, CATEGORIES.index(_MAIN_GROUP_COLUMNS[category]), int(sex == "1")] = number
        years.append(
            xr.DataArray(
                values,
                coords={"county": counties, "category": list(CATEGORIES), "sex": ["female", "male"]},
                dims=("county", "category", "sex"),
            ).expand_dims(year=[int(stem[-4:])])
        )
    if not years:
        raise DataError("hovedgruppe files", "paths", "no files given")
    data = xr.concat(years, "year", join="outer", fill_value=np.nan).sortby("year")
    data.attrs = {"units": "persons", "source": str(Path(paths[0]).parent)}
    return data


def read_imdi_country_background(path: str | Path) -> xr.DataArray:
    """IMDi `befolkning_opprinnelsesland_2022.csv` (ISO-8859-1, 3 header rows "Landbakgrunn: <name>" /
    "Enhet" / "År: YYYY", one row a municipality): immigrants plus Norwegian-born to immigrant parents on
    1 January, summed over municipalities (year, country). Suppressed cells (":") and "." count 0, so
    small countries are undercounted (PROVENANCE-1 section 2)."""
    path = Path(path)
    lines = _read_bytes(path).decode("latin-1").splitlines()
    rows = list(csv.reader(lines, delimiter=";"))
    if len(rows) < 4 or not rows[0][2].startswith("Landbakgrunn: ") or not rows[2][2].startswith("År: "):
        raise DataError(path, "header", "expected rows 'Landbakgrunn: <name>' / 'Enhet' / 'År: YYYY'")
    countries = [label.removeprefix("Landbakgrunn: ") for label in rows[0][2:]]
    years = [int(label.removeprefix("År: ")) for label in rows[2][2:]]
    totals: dict[tuple[str, int], float] = {}
    for row in rows[3:]:
        for country, year, text in zip(countries, years, row[2:], strict=False):
            text = text.strip()
            if text in ("", ":", "."):
                continue
            if not text.isdigit():
                raise DataError(path, f"{country} {year}", f"not a count: '{text}' in {row[0]}")
            totals[country, year] = totals.get((country, year), 0.0) + float(text)
    names = list(dict.fromkeys(c for c in countries if c != "alle"))
    all_years = sorted(set(years))
    values = np.array([[totals.get((c, y), 0.0) for c in names] for y in all_years])
    return xr.DataArray(
        values,
        coords={"year": all_years, "country": names},
        dims=("year", "country"),
        attrs={"units": "persons", "source": str(path), "note": "suppressed cells counted 0"},
    )


def _national_flows(path: Path) -> tuple[pd.DataFrame, str]:
    """The national immigration and emigration rows of an IMDi flow file (all districts) and the name of
    its immigrant-category column."""
    table = pd.read_csv(io.StringIO(_read_bytes(path).decode("utf-8")), dtype=str, keep_default_na=False)
    category = "innvkat_3" if "innvkat_3" in table.columns else "invkat_2"
    geo = "fylke_nr" if "fylke_nr" in table.columns else "fylke_id"
    for column in ("aar", "flytting", category, geo, "tabellvariabel"):
        if column not in table.columns:
            raise DataError(path, column, f"column missing (found {list(table.columns)})")
    national = table[table[geo].isin(["00", "0"]) & table["flytting"].isin(["innvandring", "utvandring"])]
    if "bydel_nr" in national.columns:
        national = national[national["bydel_nr"] == "NULL"]
    return national, category


def _flow_rows(national: pd.DataFrame, path: Path, **labels: pd.Series) -> pd.DataFrame:
    """year, flow, the given label columns and value of IMDi flow rows; a non-number is a DataError."""
    rows = pd.DataFrame(
        {
            "year": pd.to_numeric(national["aar"], errors="coerce"),
            "flow": national["flytting"].map({"innvandring": "immigration", "utvandring": "emigration"}),
            **labels,
            "value": pd.to_numeric(national["tabellvariabel"], errors="coerce"),
        }
    )
    if rows["value"].isna().any() or rows["year"].isna().any():
        raise DataError(path, "tabellvariabel", "not a number in a national flow row")
    rows["year"] = rows["year"].astype(int)
    return rows


def read_imdi_flows(path: str | Path) -> xr.DataArray:
    """IMDi national gross flows (year, flow, category): flow "immigration" / "emigration", category
    "all" / "immigrants"; from `befolkning_flytting.csv` (2013: innvkat_3, quoted, ',') or
    `befolkning_flytting_FL_2014.csv` (2014: invkat_2 x vreg_3, quoted, ',')."""
    path = Path(path)
    national, category = _national_flows(path)
    if "vreg_3" in national.columns:
        national = national[national["vreg_3"] == "alle"]
    national = national[national[category].isin(["alle", "innvandrere"])]
    rows = _flow_rows(
        national, path, category=national[category].map({"alle": "all", "innvandrere": "immigrants"})
    )
    return _grid(
        rows,
        ("year", "flow", "category"),
        {"flow": ("immigration", "emigration"), "category": ("all", "immigrants")},
        path,
    ).assign_attrs(units="events")


def read_imdi_flows_by_region(path: str | Path) -> xr.DataArray:
    """IMDi national gross flows of immigrants by world region (year, flow, region2) from
    `befolkning_flytting_FL_2014.csv` (vreg_3): region2 "1" (country groups 1 and 2) or "2" (group 3),
    `REGION2_GROUPS`."""
    path = Path(path)
    national, category = _national_flows(path)
    if "vreg_3" not in national.columns:
        raise DataError(path, "vreg_3", "column missing: this file has no world-region split")
    national = national[(national[category] == "innvandrere") & (national["vreg_3"] != "alle")]
    rows = _flow_rows(national, path, region2=national["vreg_3"])
    return _grid(
        rows,
        ("year", "flow", "region2"),
        {"flow": ("immigration", "emigration"), "region2": ("1", "2")},
        path,
    ).assign_attrs(units="events")


def read_ssb_flows_by_citizenship(path: str | Path) -> xr.DataArray:
    """SSB web table (`DERIVED_ssb_web_immigration_emigration_by_age_citizenship_1999-2007.csv`): national
    immigration and emigration, all and foreign citizens, both sexes (year, flow, category), category
    "all" / "foreign_citizens"."""
    path = Path(path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = ("year", "sex", "age_group", "immigration_total", "immigration_foreign_citizens",
               "emigration_total", "emigration_foreign_citizens")  # fmt: skip
    for column in columns:
        if column not in table.columns:
            raise DataError(path, column, "column missing")
    total = table[(table["sex"] == "both") & (table["age_group"] == "Total")]
    years = pd.to_numeric(total["year"], errors="coerce").to_numpy()
    values = np.stack(
        [
            [
                pd.to_numeric(total[f"{flow}_{part}"], errors="coerce").to_numpy()
                for part in ("total", "foreign_citizens")
            ]
            for flow in ("immigration", "emigration")
        ]
    )
    if np.isnan(values).any() or np.isnan(years).any():
        raise DataError(path, "immigration/emigration", "not a number in a national total row")
    return xr.DataArray(
        np.moveaxis(values, -1, 0),
        coords={
            "year": years.astype(int),
            "flow": ["immigration", "emigration"],
            "category": ["all", "foreign_citizens"],
        },
        dims=("year", "flow", "category"),
        attrs={"units": "events", "source": str(path)},
    )


def read_eurostat_flows(path: str | Path) -> xr.DataArray:
    """Eurostat migr_imm8 / migr_emi2 for Norway (`DERIVED_norway_eurostat_imm8_emi2_by_age_sex.csv.gz`):
    immigration and emigration by the age reached in the year, i.e. age at end of year (Eurostat's agedef
    REACH, the kernel's convention; 2008-2022 for immigration, 2008-2015 for emigration), (flow, year,
    sex, age), ages 0..100 (100 open, "Y_LT1" = 0, "Y_GE100" = 100); years lacking an age or sex are
    NaN."""
    path = Path(path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("direction", "agedef", "age", "sex", "year", "value"):
        if column not in table.columns:
            raise DataError(path, column, "column missing")
    rows = table[(table["agedef"] == "REACH") & table["sex"].isin(["F", "M"])]
    rows = rows[rows["age"].str.match(r"^Y(\d+|_LT1|_GE100)$")]
    age = rows["age"].str.removeprefix("Y").replace({"_LT1": "0", "_GE100": "100"}).astype(int)
    value = pd.to_numeric(rows["value"], errors="coerce")
    frame = pd.DataFrame(
        {
            "flow": rows["direction"],
            "year": rows["year"].astype(int),
            "sex": rows["sex"].map({"F": "female", "M": "male"}),
            "age": age,
            "value": value,
        }
    ).dropna(subset=["value"])
    if (frame["value"] < 0).any():
        raise DataError(path, "value", "negative count")
    data = frame.set_index(["flow", "year", "sex", "age"])["value"].to_xarray()
    complete = data.notnull().all(["sex", "age"])
    return data.where(complete).assign_attrs(units="events", age="age at end of year", source=str(path))


def read_tfr_ratio(path: str | Path) -> xr.DataArray:
    """SSB's TFR of immigrant women over that of the rest of the population, Norwegian-born to immigrant
    parents included (year), from `DERIVED_ssb_web_tfr_by_mothers_country_background.csv` (its table of
    1998-2016: 1998, 2000, 2005, 2009, 2015, 2016)."""
    path = Path(path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("year", "group", "value"):
        if column not in table.columns:
            raise DataError(path, column, "column missing")
    groups = {
        "immigrants": "Innvandrere i alt",
        "rest": "Resten av befolkningen (incl. norskfødte med innvandrerforeldre)",
    }
    series = {}
    for key, label in groups.items():
        rows = table[table["group"] == label]
        if rows.empty:
            raise DataError(path, "group", f"no rows '{label}'")
        series[key] = pd.Series(
            pd.to_numeric(rows["value"], errors="coerce").to_numpy(), index=rows["year"].astype(int)
        )
    ratio = (series["immigrants"] / series["rest"]).dropna()
    return xr.DataArray(
        ratio.to_numpy(),
        coords={"year": ratio.index.to_numpy()},
        dims="year",
        attrs={"units": "ratio of TFRs", "source": str(path)},
    )


def read_eurostat_totals(path: str | Path) -> xr.DataArray:
    """National immigration and emigration totals, both sexes (flow, year), from the same Eurostat file
    as `read_eurostat_flows` (immigration from 1990, emigration 1990-2015; years absent there are NaN)."""
    path = Path(path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in ("direction", "agedef", "age", "sex", "year", "value"):
        if column not in table.columns:
            raise DataError(path, column, "column missing")
    rows = table[(table["agedef"] == "COMPLET") & (table["age"] == "TOTAL") & (table["sex"] == "T")]
    value = pd.to_numeric(rows["value"], errors="coerce")
    if value.isna().any() or (value < 0).any():
        raise DataError(path, "value", "a national total is not a non-negative number")
    frame = pd.DataFrame({"flow": rows["direction"], "year": rows["year"].astype(int), "value": value})
    data = frame.set_index(["flow", "year"])["value"].to_xarray()
    return data.assign_attrs(units="events", source=str(path))


def read_ssb_immigrant_population_by_age(path: str | Path) -> xr.DataArray:
    """SSB web table (`DERIVED_ssb_web_immigrant_population_by_age_and_category_2002_2004.csv`): persons
    on 1 January (year, category, first_age) by 5-year age group, category "immigrants" (first
    generation) or "norwegian_born" (born in Norway to two foreign-born parents); `first_age` is each
    group's first age, the last group of a year open ("95-" in 2002, "80+" in 2004; later ages NaN)."""
    path = Path(path)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = {
        "first_generation_immigrants": "immigrants",
        "born_in_norway_two_foreign_born_parents": "norwegian_born",
    }
    for column in ("date", "age_group", *columns):
        if column not in table.columns:
            raise DataError(path, column, "column missing")
    rows = table[table["age_group"].str.match(r"^\d+")]
    first = rows["age_group"].str.extract(r"^(\d+)")[0].astype(int)
    frames = []
    for column, category in columns.items():
        value = pd.to_numeric(rows[column], errors="coerce")
        if value.isna().any() or (value < 0).any():
            raise DataError(path, column, "not a non-negative count")
        frames.append(
            pd.DataFrame(
                {
                    "year": rows["date"].str[:4].astype(int),
                    "category": category,
                    "first_age": first,
                    "value": value,
                }
            )
        )
    data = pd.concat(frames).set_index(["year", "category", "first_age"])["value"].to_xarray()
    return data.assign_attrs(units="persons", source=str(path))
