"""Readers for NAV's registered unemployment by county (`norway/labour/` of the shared data; README section
norway/labour): yearly averages of the monthly registered fully unemployed ("helt ledige"), as a share of
the labour force, by county on 2024 borders.

| reader | file | years | counties |
|---|---|---|---|
| `read_unemployment` | arbeidsledighet.csv | 2011-2025 | the 15 of 2024 (NAV's back-cast) |
| `read_unemployment_old_counties` | arbeidsledighet_2010_2024.csv | 2010-2019 | the 19 old, mapped |
| `read_unemployment_scenario` | a user's CSV: region, year, change | any | any region codes |

A year's rate is the mean of its monthly rates (percent of the labour force); `read_unemployment` keeps
complete years only (2026 has January alone), `read_unemployment_old_counties` keeps every year with at
least `MIN_MONTHS` months (2010 starts in March) and says how many in `months`; Østfold is missing from
arbeidsledighet_2010_2024.csv in 2010 and in some months of 2011-2012 (NaN in 2010 and 2011: 9 months), so
that file cannot extend the county panel back to 2010.

Old counties. The 19 counties of 2010-2019 map to the 15 of 2024 by `OLD_COUNTIES` (Hedmark + Oppland ->
Innlandet, Aust- + Vest-Agder -> Agder, Hordaland + Sogn og Fjordane -> Vestland, Nord- + Sør-Trøndelag
-> Trøndelag; Troms Romsa and Finnmark Finnmárku are 2018-2019 spellings); merged counties' rates are
labour-force weighted, the labour force of a row being its count over its rate. The 2020-2023 counties
(Viken, Vestfold og Telemark, Troms og Finnmark) cannot be split and are left out. Municipal moves between
counties (Røyken and Hurum to Akershus, Jevnaker and Lunner to Akershus, Svelvik to Buskerud in 2020;
Rindal to Trøndelag in 2019) are ignored. The two files count the same persons (Oslo's monthly counts
are equal from 2013) but round the rates differently (Oslo, March 2015: 3.7% against 0.036); the mapped yearly
rates agree with NAV's 2024-border series within 0.06 percentage points 2011-2019 (tested to 0.1): the
mapping and NAV's back-cast agree, and the panel uses the 2024-border series. Source anomaly: in March,
April, August and September 2018 the county rows are shifted one column right (Antall blank, the count
under "Prosent av arbeidsstyrken", the rate under "Endring fra i fjor (antall)"); they are read from
where they are.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.data.errors import DataError
from stochpop.data.regional import read_csv_table

COUNTY_CODES: dict[str, str] = {
    "Oslo": "03",
    "Rogaland": "11",
    "Møre og Romsdal": "15",
    "Nordland": "18",
    "Østfold": "31",
    "Akershus": "32",
    "Buskerud": "33",
    "Innlandet": "34",
    "Vestfold": "39",
    "Telemark": "40",
    "Agder": "42",
    "Vestland": "46",
    "Trøndelag": "50",
    "Troms": "55",
    "Finnmark": "56",
}
"""NAV's names of the 2024 counties -> the county codes of `stochpop.data.regional` ("03")."""

OLD_COUNTIES: dict[str, str] = {
    "Østfold": "31",
    "Akershus": "32",
    "Oslo": "03",
    "Hedmark": "34",
    "Oppland": "34",
    "Buskerud": "33",
    "Vestfold": "39",
    "Telemark": "40",
    "Aust-Agder": "42",
    "Vest-Agder": "42",
    "Rogaland": "11",
    "Hordaland": "46",
    "Sogn og Fjordane": "46",
    "Møre og Romsdal": "15",
    "Sør-Trøndelag": "50",
    "Nord-Trøndelag": "50",
    "Trøndelag": "50",
    "Nordland": "18",
    "Troms": "55",
    "Troms Romsa": "55",
    "Finnmark": "56",
    "Finnmark Finnmárku": "56",
}
"""The counties of 2010-2019 (NAV's names) -> the 2024 county that holds them."""

MONTHS: tuple[str, ...] = (
    "Januar",
    "Februar",
    "Mars",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Desember",
)
MIN_MONTHS = 10
"""Fewest months for a year of `read_unemployment_old_counties` (2010 has March-December)."""


def _numbers(text: pd.Series, path: Path, field: str, upper: float) -> np.ndarray:
    """Numbers in [0, upper]; anything else (blank included) is an error."""
    values = pd.to_numeric(text.str.strip(), errors="coerce")
    bad = values.isna() | (values < 0) | (values > upper)
    if bad.any():
        raise DataError(path, field, f"'{text[bad].iloc[0]}' is not a number in [0, {upper:g}]")
    return values.to_numpy(dtype=float)


def _yearly(monthly: pd.DataFrame, path: Path, complete: bool) -> xr.Dataset:
    """Monthly rows (year, month, region, rate %, unemployed) -> yearly means (year, region) and months
    (0 where none); every county-year must have a month if `complete`, else those without are NaN."""
    if monthly.duplicated(["year", "month", "region"]).any():
        first = monthly[monthly.duplicated(["year", "month", "region"])].iloc[0]
        raise DataError(
            path, "rows", f"two rows for {first['region']} in {first['year']}-{first['month']:02d}"
        )
    yearly = monthly.groupby(["year", "region"]).agg(
        rate=("rate", "mean"), unemployed=("unemployed", "mean"), months=("month", "size")
    )
    data = xr.Dataset.from_dataframe(yearly)
    data["months"] = data["months"].fillna(0).astype(int)
    if complete and data["rate"].isnull().any():
        where = data["rate"].isnull().stack(cell=["year", "region"])
        year, region = where["cell"].values[where.values][0]
        raise DataError(path, "rows", f"no month of {year} for county {region}")
    data["rate"].attrs["units"] = "percent of the labour force (yearly mean of monthly rates)"
    data["unemployed"].attrs["units"] = "persons (yearly mean of monthly counts)"
    data["months"].attrs["units"] = "months averaged"
    return data.assign_attrs(source=str(path))


def read_unemployment(path: str | Path) -> xr.Dataset:
    """NAV's arbeidsledighet.csv -> a Dataset (year, region) of rate (percent of the labour force), unemployed
    (persons) and months, for the 15 counties of 2024 (codes as `COUNTY_CODES`) and the complete years
    (12 months). Rows kept: level "Fylker", status "Helt ledige", both sexes; "Ukjent" and "Svalbard og
    øvrige områder" are dropped. The file's shares have three decimals (0.1 percentage point)."""
    path = Path(path)
    columns = {"Nivå", "Geografisk enhet", "Arbeidsmarkedsstatus", "Kjønn", "Antall personer"}
    table = read_csv_table(path, columns | {"Andel av arbeidsstyrken", "Dato"})
    table = table[
        (table["Nivå"] == "Fylker")
        & (table["Arbeidsmarkedsstatus"] == "Helt ledige")
        & (table["Kjønn"] == "Begge kjønn")
    ]
    names = table["Geografisk enhet"].str.strip()
    table = table[~names.isin(["Ukjent", "Svalbard og øvrige områder"])]
    names = table["Geografisk enhet"].str.strip()
    unknown = sorted(set(names) - set(COUNTY_CODES))
    if unknown:
        raise DataError(path, "Geografisk enhet", f"unknown counties {unknown}")
    dates = pd.to_datetime(table["Dato"], format="%Y-%m-%d", errors="coerce")
    if dates.isna().any():
        raise DataError(path, "Dato", f"'{table['Dato'][dates.isna()].iloc[0]}' is not a date YYYY-MM-DD")
    monthly = pd.DataFrame(
        {
            "year": dates.dt.year.to_numpy(),
            "month": dates.dt.month.to_numpy(),
            "region": names.map(COUNTY_CODES).to_numpy(),
            "rate": 100.0 * _numbers(table["Andel av arbeidsstyrken"], path, "Andel av arbeidsstyrken", 1.0),
            "unemployed": _numbers(table["Antall personer"], path, "Antall personer", np.inf),
        }
    )
    data = _yearly(monthly, path, complete=True)
    complete = (data["months"] == 12).all("region")
    return data.sel(year=complete)


def read_unemployment_old_counties(path: str | Path) -> xr.Dataset:
    """NAV's arbeidsledighet_2010_2024.csv -> a Dataset (year, region) as `read_unemployment` for the years
    of the 19 old counties (2010-2019) mapped to the 2024 counties by `OLD_COUNTIES` (module docstring);
    rate and unemployed are NaN in county-years with fewer than `MIN_MONTHS` months (a merged county's month
    counts where any of its old counties has a row)."""
    path = Path(path)
    columns = {"Fylke", "Antall", "Prosent av arbeidsstyrken", "Endring fra i fjor (antall)", "År", "Måned"}
    table = read_csv_table(path, columns)
    table = table[table["Fylke"].isin(OLD_COUNTIES)]
    years = pd.to_numeric(table["År"], errors="coerce")
    if years.isna().any():
        raise DataError(path, "År", f"'{table['År'][years.isna()].iloc[0]}' is not a year")
    table = table[years < 2020]
    month = table["Måned"].map({name: index + 1 for index, name in enumerate(MONTHS)})
    if month.isna().any():
        raise DataError(path, "Måned", f"'{table['Måned'][month.isna()].iloc[0]}' is not a month")
    shifted = table["Antall"].str.strip().eq("")
    count_text = table["Antall"].where(~shifted, table["Prosent av arbeidsstyrken"])
    rate_text = table["Prosent av arbeidsstyrken"].where(~shifted, table["Endring fra i fjor (antall)"])
    unemployed = _numbers(count_text, path, "Antall", np.inf)
    rate = _numbers(rate_text, path, "Prosent av arbeidsstyrken", 100.0)
    if (rate == 0).any():
        raise DataError(path, "Prosent av arbeidsstyrken", "a rate of 0 gives no labour force")
    rows = pd.DataFrame(
        {
            "year": table["År"].astype(int).to_numpy(),
            "month": month.astype(int).to_numpy(),
            "old": table["Fylke"].to_numpy(),
            "region": table["Fylke"].map(OLD_COUNTIES).to_numpy(),
            "unemployed": unemployed,
            "labour_force": unemployed / (rate / 100.0),
        }
    )
    if rows.duplicated(["year", "month", "old"]).any():
        first = rows[rows.duplicated(["year", "month", "old"])].iloc[0]
        raise DataError(
            path, "rows", f"two rows for {first['old']} in {first['year']} month {first['month']}"
        )
    merged = rows.groupby(["year", "month", "region"], as_index=False)[["unemployed", "labour_force"]].sum()
    merged["rate"] = 100.0 * merged["unemployed"] / merged["labour_force"]
    data = _yearly(merged.drop(columns="labour_force"), path, complete=False)
    return data.where(data["months"] >= MIN_MONTHS).assign(months=data["months"])


def read_unemployment_scenario(path: str | Path, regions: list[str], years: np.ndarray) -> xr.DataArray:
    """A user's unemployment scenario, a CSV of region, year, change (percentage points against whatever
    path the projection assumes) -> change (year, region) over `years` and `regions`, 0 where the file
    says nothing. DataError naming the line for an unknown region, a year outside `years`, a change that
    is not a number, or a region-year given twice."""
    path = Path(path)
    table = read_csv_table(path, {"region", "year", "change"})
    change = xr.DataArray(
        np.zeros((len(years), len(regions))),
        dims=("year", "region"),
        coords={"year": years, "region": regions},
    )
    seen: dict[tuple[str, int], int] = {}
    for index, row in enumerate(table.itertuples(index=False), start=2):  # line 1 is the header
        region, year_text, value_text = (
            str(row.region).strip(),
            str(row.year).strip(),
            str(row.change).strip(),
        )
        if region not in regions:
            raise DataError(path, f"line {index}: region", f"'{region}' is not one of the run's regions")
        if not year_text.isdigit() or int(year_text) not in years:
            raise DataError(path, f"line {index}: year", f"'{year_text}' is not a projected year")
        try:
            value = float(value_text)
        except ValueError:
            raise DataError(path, f"line {index}: change", f"'{value_text}' is not a number") from None
        if not np.isfinite(value):
            raise DataError(path, f"line {index}: change", f"'{value_text}' is not finite")
        cell = (region, int(year_text))
        if cell in seen:
            raise DataError(path, f"line {index}: year", f"{cell} is already given on line {seen[cell]}")
        seen[cell] = index
        change.loc[{"year": cell[1], "region": region}] = value
    return change
