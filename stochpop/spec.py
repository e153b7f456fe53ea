"""Projection specifications: TOML files in `models/` that users edit.

    [data]
    source = "demo"        # "demo" (generated) or "hmd-hfd" (a directory of HMD/HFD files)
    seed = 0               # demo only
    path = "norway"        # hmd-hfd only; relative paths are taken inside the shared data folder
                           # ($STOCHPOP_SHARED_DATA, or ../shared/data beside the checkout)

    [projection]
    jump_off = 2025        # 1 January stock to start from
    horizon = 75           # years projected
    migration = "net"      # "net" (cohort residual) or "gross" (immigration counts, emigration rates)
    mean_of_years = 1      # held rates: mean of the last observed years

Unknown sections or keys, wrong types and bad values raise `SpecError` naming the file and the key.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stochpop.data.container import CountryData
from stochpop.data.demo import demo_country
from stochpop.data.norway import load_country, shared_data_dir


class SpecError(ValueError):
    """An invalid specification; the message names the file and the key."""


@dataclass(frozen=True)
class DataSpec:
    source: str = "demo"
    seed: int = 0
    path: str | None = None


@dataclass(frozen=True)
class ProjectionSpec:
    jump_off: int = 2025
    horizon: int = 75
    migration: str = "net"
    mean_of_years: int = 1


@dataclass(frozen=True)
class Spec:
    data: DataSpec
    projection: ProjectionSpec
    file: str = "<spec>"


CHOICES = {("data", "source"): ("demo", "hmd-hfd"), ("projection", "migration"): ("net", "gross")}
POSITIVE = {("projection", "horizon"), ("projection", "mean_of_years")}


def _section(raw: dict[str, Any], name: str, cls: type, file: str) -> Any:
    values = raw.get(name, {})
    if not isinstance(values, dict):
        raise SpecError(f"{file}: [{name}] must be a table")
    fields = cls.__dataclass_fields__
    for key, value in values.items():
        where = f"{file}: {name}.{key}"
        if key not in fields:
            raise SpecError(f"{where}: unknown key (expected one of {sorted(fields)})")
        expected = int if fields[key].type in (int, "int") else str
        if not isinstance(value, expected) or isinstance(value, bool):
            raise SpecError(f"{where}: expected {expected.__name__}, got {value!r}")
        if (name, key) in CHOICES and value not in CHOICES[(name, key)]:
            raise SpecError(f"{where}: {value!r} is not one of {CHOICES[(name, key)]}")
        if (name, key) in POSITIVE and value < 1:
            raise SpecError(f"{where}: must be at least 1, got {value}")
    return cls(**values)


def parse_spec(text: str, file: str = "<spec>") -> Spec:
    """Parse and validate a specification from TOML text."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(f"{file}: not valid TOML: {error}") from error
    unknown = set(raw) - {"data", "projection"}
    if unknown:
        raise SpecError(f"{file}: unknown section(s) {sorted(unknown)} (expected data, projection)")
    spec = Spec(
        _section(raw, "data", DataSpec, file), _section(raw, "projection", ProjectionSpec, file), file
    )
    if spec.data.source == "hmd-hfd" and spec.data.path is None:
        raise SpecError(f"{file}: data.path: required when data.source is 'hmd-hfd'")
    return spec


def load_spec(path: str | Path) -> Spec:
    """Read and validate a specification file."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: file not found")
    return parse_spec(path.read_text(), str(path))


def load_data(spec: Spec, data_path: str | Path | None = None) -> CountryData:
    """The country data a spec names; `data_path` overrides `data.path`."""
    if spec.data.source == "demo":
        return demo_country(seed=spec.data.seed)
    path = Path(data_path if data_path is not None else spec.data.path)
    if not path.is_absolute():
        root = shared_data_dir()
        if root is None:
            raise SpecError(
                f"{spec.file}: data.path: {path} is relative but no shared data folder was found "
                "(set STOCHPOP_SHARED_DATA or place ../shared/data beside the checkout)"
            )
        path = root / path
    return load_country(path, name=path.name.capitalize())
