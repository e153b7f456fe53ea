"""Assemble a `CountryData` from an HMD/HFD directory laid out like the shared Norway data.

Layout: hmd/Population.txt, hmd/Deaths_1x1.txt, hmd/Births.txt, optional hmd/Exposures_1x1.txt, and
one hfd/XXXasfrRR.txt. Without Exposures_1x1.txt the container derives exposures from the population.
"""

import os
from pathlib import Path

from stochpop.data.container import CountryData
from stochpop.data.errors import DataError
from stochpop.data.hfd import read_hfd_asfr
from stochpop.data.hmd import read_hmd, read_hmd_births

__all__ = ["load_country", "shared_data_dir"]

ENV_VAR = "STOCHPOP_SHARED_DATA"


def _required(path: Path) -> Path:
    if not path.is_file():
        raise DataError(path, "file", "not found")
    return path


def _asfr_file(directory: Path) -> Path:
    candidates = sorted((directory / "hfd").glob("*asfrRR.txt"))
    if len(candidates) != 1:
        found = [c.name for c in candidates]
        raise DataError(directory / "hfd", "asfrRR file", f"expected one XXXasfrRR.txt, found {found}")
    return candidates[0]


def load_country(directory: str | Path, name: str = "Norway") -> CountryData:
    """Read population, deaths, births (HMD) and fertility (HFD) from `directory` into a CountryData.

    Population: persons on 1 January (year, sex, age 0..110+); deaths: Lexis squares; births (year,
    sex); asfr: births per woman-year (year, age 12..55 with open ends); exposures (person-years) from
    hmd/Exposures_1x1.txt if present, else None.
    """
    directory = Path(directory)
    hmd = directory / "hmd"
    exposures_file = hmd / "Exposures_1x1.txt"
    return CountryData(
        name=name,
        population=read_hmd(_required(hmd / "Population.txt")),
        deaths=read_hmd(_required(hmd / "Deaths_1x1.txt")),
        births=read_hmd_births(_required(hmd / "Births.txt")),
        asfr=read_hfd_asfr(_asfr_file(directory)),
        exposures=read_hmd(exposures_file) if exposures_file.is_file() else None,
        source=str(directory),
    )


def _checkout_roots() -> list[Path]:
    """Source checkouts (directories with pyproject.toml and stochpop/) above the cwd and the package."""
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    roots = []
    for start in starts:
        for candidate in (start, *start.parents):
            if (candidate / "pyproject.toml").is_file() and (candidate / "stochpop").is_dir():
                roots.append(candidate)
                break
    return roots


MISSING_SHARED_DATA = (
    "real data not found: set STOCHPOP_SHARED_DATA or place ../shared/data beside the checkout"
)


def shared_data_dir() -> Path | None:
    """The real-data folder: $STOCHPOP_SHARED_DATA if set, else <checkout>/../shared/data; None if absent."""
    if ENV_VAR in os.environ:
        path = Path(os.environ[ENV_VAR])
        return path if path.is_dir() else None
    for root in _checkout_roots():
        path = root.parent / "shared" / "data"
        if path.is_dir():
            return path
    return None
