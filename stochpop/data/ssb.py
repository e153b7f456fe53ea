"""Reader for Statistics Norway (SSB) StatBank table 07459 exports: population 1 January by region
(municipality), optionally sex, and one-year age.

Exports differ in encoding (UTF-8 or latin-1), delimiter (tab, ',' or ';') and may start with a title
line and a blank line before the header "region", ["sex",] "age", "Persons YYYY", ... . Regions read
"0101 Halden" or "K-3001 Halden": the code ("0101", "3001"; also "21-22", "Rest") is the `region`
coordinate and the name the `region_name` coordinate. Ages "0 years", "1 year", ..., "105 years or
older" (open, attrs open_age=105). Blank, "." , ".." or ":" cells become NaN. Municipalities that did
not exist in a year are reported with 0 persons in the exports seen so far.
"""

import csv
import io
import re
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.errors import DataError
from stochpop.data.hmd import numbers

_SEX_LABELS = {"females": "female", "males": "male", "kvinner": "female", "menn": "male"}
_AGE = r"^(\d+) years?( or older)?$"
_REGION = r"^(?:K-)?(\S+)\s+(.*)$"
_YEAR_COLUMN = re.compile(r".*?(\d{4})")
_HEADER_SEARCH_LINES = 10


def _decode(path: Path) -> str:
    """File text: UTF-8 if it decodes, else latin-1."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _header(lines: list[str], source: Path) -> tuple[int, str]:
    """Index of the header line (the first with "region" and "age" columns) and its delimiter."""
    for index, line in enumerate(lines[:_HEADER_SEARCH_LINES]):
        for delimiter in ("\t", ";", ","):
            fields = next(csv.reader([line], delimiter=delimiter))
            if fields[:1] == ["region"] and "age" in fields:
                return index, delimiter
    raise DataError(
        source, "header", "no header line with 'region' and 'age' columns: not an SSB 07459 export"
    )


def _columns(columns: list[str], source: Path) -> tuple[bool, list[int]]:
    """Whether there is a sex column, and the years of the value columns."""
    has_sex = columns[1] == "sex"
    labels = ["region", "sex", "age"] if has_sex else ["region", "age"]
    if columns[: len(labels)] != labels:
        raise DataError(source, "header", f"columns are {columns}; expected {labels} then one per year")
    years = []
    for name in columns[len(labels) :]:
        match = _YEAR_COLUMN.fullmatch(name)
        if match is None:
            raise DataError(source, "header", f"column '{name}' is not a year column like 'Persons 2018'")
        years.append(int(match.group(1)))
    if not years or len(set(years)) != len(years):
        raise DataError(
            source, "header", f"year columns are {columns[len(labels) :]}; expected distinct years"
        )
    return has_sex, years


def _labels(text: pd.Series) -> pd.Series:
    """The distinct labels of a column, indexed by themselves (parse these, then map back to rows)."""
    distinct = pd.unique(text)
    return pd.Series(distinct, index=distinct).str.strip()


def _regions(text: pd.Series, source: Path) -> tuple[pd.Series, dict[str, str]]:
    """Region codes per row and the name of each code (in order of first appearance)."""
    parts = _labels(text).str.extract(_REGION)
    if parts[0].isna().any():
        bad = parts.index[parts[0].isna()][0]
        raise DataError(source, "region", f"'{bad}' is not a region like '0101 Halden' or 'K-3001 Halden'")
    renamed = parts[0].duplicated()
    if renamed.any():
        code = parts[0][renamed].iloc[0]
        raise DataError(
            source, "region", f"code {code} has several names: {parts[1][parts[0] == code].tolist()}"
        )
    return text.map(parts[0]), dict(zip(parts[0], parts[1], strict=True))


def _ages(text: pd.Series, source: Path) -> tuple[pd.Series, int]:
    """Integer ages per row and the open age ("N years or older", the highest age)."""
    parts = _labels(text).str.extract(_AGE)
    if parts[0].isna().any():
        raise DataError(source, "age", f"'{parts.index[parts[0].isna()][0]}' is not an age like '3 years'")
    ages = parts[0].astype(int)
    open_ages = set(ages[parts[1].notna()])
    if len(open_ages) != 1 or ages.max() not in open_ages:
        raise DataError(
            source, "age", f"expected one open age 'N years or older' as the highest age, got {open_ages}"
        )
    return text.map(ages), int(ages.max())


def _sexes(text: pd.Series, source: Path) -> pd.Series:
    sexes = _labels(text).str.lower().map(_SEX_LABELS)
    if sexes.isna().any():
        raise DataError(
            source, "sex", f"unknown label '{sexes.index[sexes.isna()][0]}'; expected Females or Males"
        )
    return text.map(sexes)


def read_ssb_07459(path: str | Path) -> xr.DataArray:
    """Read a StatBank 07459 export: persons on 1 January.

    Returns dims (year, region, age), or (year, region, sex, age) if the file has a sex column (sex
    "female", "male"); region coordinate = municipality code, `region_name` = its name; ages 0..open
    (attrs open_age). Units "persons"; missing cells are NaN.
    """
    path = Path(path)
    lines = _decode(path).splitlines()
    start, delimiter = _header(lines, path)
    try:
        table = pd.read_csv(
            io.StringIO("\n".join(lines[start:])), sep=delimiter, dtype=str, keep_default_na=False
        ).fillna("")
    except pd.errors.ParserError as err:
        raise DataError(path, "table", f"cannot parse rows: {err}") from err
    if table.empty:
        raise DataError(path, "table", "no data rows")
    has_sex, years = _columns(list(table.columns), path)
    codes, names = _regions(table["region"], path)
    ages, open_age = _ages(table["age"], path)
    keys = {"region": codes, "age": ages}
    if has_sex:
        keys = {"region": codes, "sex": _sexes(table["sex"], path), "age": ages}
    index = pd.MultiIndex.from_arrays(list(keys.values()), names=list(keys))
    if index.duplicated().any():
        raise DataError(
            path, "rows", f"duplicate row for {dict(zip(keys, index[index.duplicated()][0], strict=True))}"
        )
    labels = table[["region", *(["sex"] if has_sex else []), "age"]]
    values = np.column_stack(
        [numbers(table[col], labels, path, col, allow_missing=True) for col in table.columns[len(keys) :]]
    )
    frame = pd.DataFrame(values, index=index, columns=pd.Index(years, name="year"))
    axes: list[Sequence[Hashable]] = [
        list(names),
        *([list(SEXES)] if has_sex else []),
        list(range(open_age + 1)),
    ]
    full = pd.MultiIndex.from_product(axes, names=list(keys))
    absent = full.difference(index)
    if len(absent):
        raise DataError(
            path, "rows", f"no row for {dict(zip(keys, absent[0], strict=True))} ({len(absent)} missing)"
        )
    data = xr.DataArray(
        frame.reindex(full).to_numpy().T.reshape(len(years), *map(len, axes)),
        dims=("year", *keys),
    )
    coords = {"year": years, "region": list(names), "age": np.arange(open_age + 1)}
    if has_sex:
        coords["sex"] = list(SEXES)
    data = data.assign_coords(coords).assign_coords(region_name=("region", list(names.values())))
    data.attrs = {"units": "persons", "source": str(path), "open_age": open_age, "note": "1 January"}
    return data.sortby("year").rename("population")


def read_ssb_07459_many(paths: Iterable[str | Path]) -> xr.DataArray:
    """Combine several 07459 exports over years (outer join on regions; absent regions are NaN).

    Returns the dims of `read_ssb_07459`, years sorted, regions in order of first appearance by year;
    attrs source lists the files ("; "-separated).

    Files must agree on having a sex column and on the open age, and each year may come from one file
    only. Region names are taken from the latest file that has the region.
    """
    arrays = [read_ssb_07459(path) for path in paths]
    if not arrays:
        raise DataError("read_ssb_07459_many", "paths", "no files given")
    first = arrays[0]
    seen: dict[int, str] = {}
    for array in arrays:
        source = array.attrs["source"]
        if array.dims != first.dims or array.attrs["open_age"] != first.attrs["open_age"]:
            raise DataError(
                source, "header", f"dims {array.dims} / open age differ from {first.attrs['source']}"
            )
        for year in array["year"].values.tolist():
            if year in seen:
                raise DataError(source, "year", f"year {year} is also in {seen[year]}")
            seen[year] = source
    ordered = sorted(arrays, key=lambda array: int(array["year"].max()))
    names: dict[str, str] = {}
    for array in ordered:
        names.update(zip(array["region"].values.tolist(), array["region_name"].values.tolist(), strict=True))
    regions = list(dict.fromkeys(code for array in ordered for code in array["region"].values.tolist()))
    combined = xr.concat(
        [array.drop_vars("region_name").reindex(region=regions) for array in ordered],
        dim="year",
        join="exact",
    )
    combined = combined.sortby("year").assign_coords(
        region_name=("region", [names[code] for code in regions])
    )
    combined.attrs = {**first.attrs, "source": "; ".join(array.attrs["source"] for array in ordered)}
    return combined
