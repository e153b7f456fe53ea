"""A run directory and its layout, defined here only.

spec.json               the specification as run (command-line overrides included)
lock                    who writes here now (`stochpop.run.lock`)
fits.json               each fit's wall time, diagnostics and seed
posteriors/<name>.nc    each component's posterior (ArviZ InferenceData, netCDF)
posteriors/regions/     the regional parts' posteriors, if the spec has regions (`stochpop.run.regions`)
posteriors/groups/      the group components' posteriors, if the spec has groups (`stochpop.run.groups`)
paths.zarr/             every sampled path, a zarr group per chunk (`stochpop.results.store`)
tables/                 quantiles, variants, population quantiles, alternatives (CSV, parquet)
figures/                fan charts and pyramids
"""

import json
import os
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from stochpop.projection.sampled import COMPONENTS
from stochpop.run.lock import run_lock
from stochpop.run.spec import Spec, SpecError, spec_from_dict, spec_to_dict


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so readers never see a partial file."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".partial") as file:
        file.write(text)
    os.replace(file.name, path)


@dataclass(frozen=True)
class RunDirectory:
    """The files of one run under `path` (see the module docstring)."""

    path: Path

    def __init__(self, path: str | Path) -> None:
        object.__setattr__(self, "path", Path(path))

    @property
    def spec_file(self) -> Path:
        """The specification as run."""
        return self.path / "spec.json"

    @property
    def fits_file(self) -> Path:
        """Each fit's wall time, diagnostics and seed."""
        return self.path / "fits.json"

    @property
    def store(self) -> Path:
        """The paths' zarr store (`stochpop.results.store`)."""
        return self.path / "paths.zarr"

    @property
    def tables(self) -> Path:
        """The summary tables."""
        return self.path / "tables"

    @property
    def figures(self) -> Path:
        """The fan charts and pyramids."""
        return self.path / "figures"

    @property
    def posterior_files(self) -> dict[str, Path]:
        """Where each component's posterior is saved: posteriors/<name>.nc, in `COMPONENTS` order."""
        return {name: self.path / "posteriors" / f"{name}.nc" for name in COMPONENTS}

    def regional_files(self, parts: tuple[str, ...]) -> dict[str, Path]:
        """Where each regional part's posterior is saved: posteriors/regions/<part>.nc."""
        return {part: self.path / "posteriors" / "regions" / f"{part}.nc" for part in parts}

    def group_files(self, parts: tuple[str, ...]) -> dict[str, Path]:
        """Where each group component's posterior is saved: posteriors/groups/<part>.nc."""
        return {part: self.path / "posteriors" / "groups" / f"{part}.nc" for part in parts}

    def lock(self, command: str) -> AbstractContextManager[None]:
        """Hold the directory for `command` (e.g. "project") while writing; RunLockedError naming the
        holder if another process writes here (`stochpop.run.lock`)."""
        return run_lock(self.path, command)

    def write_spec(self, spec: Spec) -> None:
        """Record `spec` as the run's specification (creating the directory)."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.spec_file, json.dumps(spec_to_dict(spec), indent=2))

    def spec(self) -> Spec:
        """The run's specification; SpecError if this is not a run directory."""
        if not self.spec_file.is_file():
            raise SpecError(
                f"{self.spec_file}: not a run directory (run `stochpop fit SPEC --out {self.path}` first)"
            )
        return spec_from_dict(json.loads(self.spec_file.read_text()), str(self.spec_file))

    def fitted_posteriors(self) -> dict[str, Path]:
        """The saved posteriors; SpecError naming those missing."""
        missing = [str(f) for f in self.posterior_files.values() if not f.is_file()]
        if missing:
            raise SpecError(f"{self.path}: no saved posteriors {missing} (run `stochpop fit` first)")
        return self.posterior_files
