"""Readers for Human Mortality Database (HMD) text files.

HMD files have a title line, a blank line and a column header, then whitespace-separated rows; "." marks
a missing value and the last age is "110+" (read as age 110, attrs open_age=110). The file type is
detected from the title line, so a file of another format raises `DataError`.

Territorial changes: some countries' Population.txt has two rows for a year of change, "1959-" (old
territory) and "1959+" (new territory). The "+" row is kept for that year, so 1 January populations are
on the territory in force during the year; the change then shows in the previous year's migration
residual. The years affected are listed in attrs["territorial_change_years"].
"""

import io
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from stochpop.conventions import SEXES
from stochpop.data.errors import DataError

MISSING_MARKERS = frozenset({"", ".", "..", ":"})
"""Cell texts meaning "no value" in the supported sources."""

SEX_COLUMNS = ("Female", "Male")
OPEN_AGE = 110

# title fragment -> (quantity, units, missing values allowed)
_KINDS = {
    "Population size": ("population", "persons", False),
    "Deaths (period 1x1)": ("deaths", "deaths", False),
    "Exposure to risk (period 1x1)": ("exposures", "person-years", False),
    "Death rates (period 1x1)": ("mx", "deaths per person-year", True),
}
_NOTES = {
    "population": "1 January",
    "deaths": "age in completed years (Lexis squares)",
    "exposures": "age in completed years (Lexis squares)",
    "mx": "age in completed years (Lexis squares)",
}
_LIFETABLE_UNITS = {
    "mx": "deaths per person-year",
    "qx": "probability of dying within the age interval",
    "ax": "years lived in the interval by those dying in it",
    "lx": "survivors to exact age x of 100000 births",
    "dx": "deaths in the interval of 100000 births",
    "Lx": "person-years lived in the interval by 100000 births",
    "Tx": "person-years lived above age x by 100000 births",
    "ex": "years (life expectancy at age x)",
}
_LIFETABLE_SEXES = {"Females": "female", "Males": "male", "Total": "both"}


def read_text_table(path: str | Path) -> tuple[str, str, pd.DataFrame]:
    """Title (first line up to a tab), header line and table (cells as text) of an HMD/HFD-style file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as err:
        raise DataError(path, "file", f"cannot read: {err.strerror}") from err
    header = next((i for i, line in enumerate(lines) if line.split()[:1] == ["Year"]), None)
    if header is None:
        raise DataError(path, "header", "no column header line starting with 'Year'")
    try:
        table = pd.read_csv(
            io.StringIO("\n".join(lines[header:])), sep=r"\s+", dtype=str, keep_default_na=False
        )
    except pd.errors.ParserError as err:
        raise DataError(path, "table", f"cannot parse rows: {err}") from err
    if table.empty:
        raise DataError(path, "table", "no data rows")
    return lines[0].split("\t")[0].strip(), lines[header], table.fillna("")


def check_columns(table: pd.DataFrame, expected: tuple[str, ...], source: Path, kind: str) -> None:
    """Raise unless the table's columns are exactly `expected`, in that order."""
    if tuple(table.columns) != expected:
        raise DataError(
            source, "header", f"columns are {' '.join(table.columns)}; expected {' '.join(expected)} ({kind})"
        )


def numbers(
    raw: pd.Series,
    labels: pd.DataFrame,
    source: Path,
    field: str,
    *,
    allow_missing: bool,
    allow_negative: bool = False,
) -> np.ndarray:
    """Parse a text column to floats; missing markers -> NaN if allowed; negatives are errors unless allowed.

    `labels` holds the row labels (e.g. Year, Age) used to say where a bad cell is.
    """
    text = raw.str.strip()
    missing = text.isin(MISSING_MARKERS).to_numpy()
    values = pd.to_numeric(text.where(~missing), errors="coerce").to_numpy(dtype=float)

    def where(mask: np.ndarray) -> str:
        row = int(np.argmax(mask))
        place = ", ".join(f"{col.lower()} {labels[col].iloc[row]}" for col in labels.columns)
        return f"'{text.iloc[row]}' at {place}"

    bad = np.isnan(values) & ~missing
    if bad.any():
        raise DataError(source, field, f"not a number: {where(bad)}")
    if missing.any() and not allow_missing:
        raise DataError(source, field, f"missing value {where(missing)}; counts must be present")
    negative = values < 0
    if negative.any() and not allow_negative:
        raise DataError(source, field, f"negative value {where(negative)}")
    return values


def parse_years(years: pd.Series, source: Path) -> tuple[np.ndarray, pd.Series, list[int]]:
    """Integer years, a mask of rows to keep (drops "YYYY-" rows) and the territorial-change years."""
    text = years.str.strip()
    keep = ~text.str.endswith("-")
    plus = text.str.endswith("+")
    stripped = text.str.rstrip("+-")
    if not stripped.str.fullmatch(r"\d{4}").all():
        bad = stripped[~stripped.str.fullmatch(r"\d{4}")].iloc[0]
        raise DataError(source, "Year", f"not a year: '{bad}'")
    changed = sorted(set(stripped[plus].astype(int)))
    return stripped[keep].astype(int).to_numpy(), keep, changed


def check_years(years: np.ndarray, source: Path, *, consecutive: bool = True) -> None:
    """Raise unless `years` (one per block) increase, and are consecutive if required."""
    steps = np.diff(years)
    if (steps <= 0).any():
        row = int(np.argmax(steps <= 0))
        raise DataError(source, "Year", f"years out of order: {years[row + 1]} after {years[row]}")
    if consecutive and (steps != 1).any():
        gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years.tolist()))
        raise DataError(source, "Year", f"years are not consecutive: missing {gaps}")


def year_age_grid(
    years: np.ndarray, ages: pd.Series, source: Path, *, consecutive: bool = True
) -> tuple[np.ndarray, list[str]]:
    """Check rows form complete year blocks with the same age labels in the same order.

    Returns the distinct years and the age labels of one block (taken from the first year).
    """
    starts = np.flatnonzero(np.r_[True, years[1:] != years[:-1]])
    block_years = years[starts]
    check_years(block_years, source, consecutive=consecutive)
    labels = ages.str.strip().tolist()
    template = labels[: (starts[1] if starts.size > 1 else len(labels))]
    for year, start, stop in zip(block_years, starts, np.r_[starts[1:], len(labels)], strict=True):
        block = labels[start:stop]
        if block == template:
            continue
        if sorted(block) == sorted(template):
            raise DataError(source, "Age", f"ages out of order in year {year}")
        missing = [a for a in template if a not in block]
        extra = [a for a in block if a not in template]
        raise DataError(
            source,
            "Age",
            f"ages in year {year} differ from year {block_years[0]}: missing {missing}, extra {extra}",
        )
    return block_years, template


def age_values(labels: list[str], source: Path) -> np.ndarray:
    """Integer ages from labels like "0", "12-", "110+"; they must be consecutive."""
    try:
        ages = np.array([int(label.rstrip("+-")) for label in labels])
    except ValueError as err:
        raise DataError(source, "Age", f"not an age: {err}") from err
    if not np.array_equal(ages, np.arange(ages[0], ages[0] + ages.size)):
        raise DataError(source, "Age", f"ages are not consecutive: {labels}")
    return ages


def _detect(title: str, source: Path) -> tuple[str, str, bool]:
    for fragment, kind in _KINDS.items():
        if fragment in title:
            return kind
    raise DataError(
        source, "title", f"'{title}' is not an HMD Population, Deaths_1x1, Exposures_1x1 or Mx_1x1 file"
    )


def read_hmd(path: str | Path) -> xr.DataArray:
    """Read HMD Population.txt, Deaths_1x1.txt, Exposures_1x1.txt or Mx_1x1.txt.

    Returns dims (year, sex, age): sex ("female", "male"), integer ages 0..110 (110 = "110+", attrs
    open_age=110). Units: "persons" on 1 January, "deaths", "person-years" or "deaths per person-year".
    Missing values (".") become NaN for rates only; counts must be present and non-negative.
    """
    path = Path(path)
    title, _, table = read_text_table(path)
    quantity, units, allow_missing = _detect(title, path)
    check_columns(table, ("Year", "Age", *SEX_COLUMNS, "Total"), path, f"HMD {quantity}")
    years, keep, changed = parse_years(table["Year"], path)
    table = table[keep.to_numpy()]
    block_years, labels = year_age_grid(years, table["Age"], path)
    ages = age_values(labels, path)
    if ages[0] != 0 or labels[-1] != f"{OPEN_AGE}+":
        raise DataError(path, "Age", f"ages run {labels[0]}..{labels[-1]}; expected 0..{OPEN_AGE}+")
    row_labels = pd.DataFrame({"Year": years, "Age": table["Age"].str.strip().to_numpy()})
    values = np.stack(
        [
            numbers(table[col], row_labels, path, col, allow_missing=allow_missing).reshape(
                block_years.size, ages.size
            )
            for col in SEX_COLUMNS
        ],
        axis=1,
    )
    attrs = {
        "units": units,
        "source": str(path),
        "quantity": quantity,
        "note": _NOTES[quantity],
        "open_age": OPEN_AGE,
        "territorial_change_years": changed,
    }
    return xr.DataArray(
        values,
        dims=("year", "sex", "age"),
        coords={"year": block_years, "sex": list(SEXES), "age": ages},
        name=quantity,
        attrs=attrs,
    )


def read_hmd_births(path: str | Path) -> xr.DataArray:
    """Read HMD Births.txt: live births, dims (year, sex), units "births"."""
    path = Path(path)
    title, _, table = read_text_table(path)
    if "Births" not in title:
        raise DataError(path, "title", f"'{title}' is not an HMD Births file")
    check_columns(table, ("Year", *SEX_COLUMNS, "Total"), path, "HMD births")
    years, keep, _ = parse_years(table["Year"], path)
    table = table[keep.to_numpy()]
    check_years(years, path)
    row_labels = pd.DataFrame({"Year": years})
    values = np.stack(
        [numbers(table[col], row_labels, path, col, allow_missing=False) for col in SEX_COLUMNS], axis=1
    )
    return xr.DataArray(
        values,
        dims=("year", "sex"),
        coords={"year": years, "sex": list(SEXES)},
        name="births",
        attrs={"units": "births", "source": str(path), "quantity": "live births"},
    )


def read_hmd_lifetable(path: str | Path) -> xr.Dataset:
    """Read an HMD period life table (fltper_1x1, mltper_1x1, bltper_1x1): dims (year, age).

    Variables mx qx ax lx dx Lx Tx ex (units in each variable's attrs; radix 100000); ages 0..110
    (110 = "110+"); attrs sex "female", "male" or "both". Missing values become NaN.
    """
    path = Path(path)
    title, _, table = read_text_table(path)
    if "Life tables (period 1x1)" not in title:
        raise DataError(path, "title", f"'{title}' is not an HMD period 1x1 life table")
    check_columns(table, ("Year", "Age", *_LIFETABLE_UNITS), path, "HMD life table")
    years, keep, _ = parse_years(table["Year"], path)
    table = table[keep.to_numpy()]
    block_years, labels = year_age_grid(years, table["Age"], path)
    ages = age_values(labels, path)
    row_labels = pd.DataFrame({"Year": years, "Age": table["Age"].str.strip().to_numpy()})
    shape = (block_years.size, ages.size)
    variables = {
        col: xr.Variable(
            ("year", "age"),
            numbers(table[col], row_labels, path, col, allow_missing=True).reshape(shape),
            attrs={"units": units},
        )
        for col, units in _LIFETABLE_UNITS.items()
    }
    sex = next((label for word, label in _LIFETABLE_SEXES.items() if title.endswith(word)), "")
    return xr.Dataset(
        variables,
        coords={"year": block_years, "age": ages},
        attrs={"source": str(path), "sex": sex, "open_age": int(ages[-1]), "radix": 100000},
    )
