"""The stochastic projection: fit the components, sample paths chunk by chunk, run them through the kernel.

    components = build_components(spec, data)
    fits = fit_components(components, data, spec.fit)    # then save_posterior each
    projection = PathProjection.create(spec, data, components, posterior_files)
    projection(0, 500)                                               # paths 0..499, a Dataset
    run_chunks(projection, n_paths, chunk_size, store, client)       # all paths via Dask, to zarr

A path is one joint future: its own posterior draw of every component and its own shocks, all from
fold_in(fold_in(PRNGKey(seed), component), path index) (`components.path_keys`), so the components
stay together in the path (sample paths, not marginals combined afterwards) and any chunking of the
paths gives the same results (`distributed.run_chunks`).
"""

import json
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path

import arviz as az
import jax
import numpy as np
import pandas as pd
import xarray as xr

from stochpop.components.contract import Component, Drivers
from stochpop.components.fertility import FertilityModel
from stochpop.components.fitting import FitWarning, read_diagnostics
from stochpop.components.migration import GrossMigrationModel, NetMigrationModel
from stochpop.components.mortality import CoherentLeeCarter, LeeCarter
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.randomness import Paths, path_indices
from stochpop.components.settings import FitSettings
from stochpop.data.container import CountryData
from stochpop.demography.indicators import indicators
from stochpop.projection.alternatives import alternative_rates, letter_paths
from stochpop.projection.conversion import RateConversion, rate_set, woman_years_per_woman
from stochpop.projection.labelled import project_rates
from stochpop.projection.rate_sets import to_kernel_ages
from stochpop.projection.results import paths_dataset
from stochpop.projection.simulate import rates_by_year, simulate_paths
from stochpop.run.spec import Spec

COMPONENTS = ("mortality", "fertility", "migration")
"""Component names, in the order that numbers their random streams."""

PATHS_FORMAT = 2
"""Version of what a seed's paths are (samplers, stored layout); raise it when they change, so a run stored
before is not resumed with paths of another kind (2: Student-t shocks by `components.student_t`)."""


def _last_fit_year(available: np.ndarray, jump_off: int, what: str) -> int:
    """The last year a component may see: its last year of data before the jump-off."""
    before = np.asarray(available)[np.asarray(available) < jump_off]
    if before.size == 0:
        raise ValueError(f"no {what} data before the jump-off year {jump_off}")
    return int(before.max())


def build_components(spec: Spec, data: CountryData) -> dict[str, Component]:
    """The spec's mortality, fertility and migration components, fitted up to the jump-off at most."""
    jump_off = spec.projection.jump_off
    m = spec.mortality
    deaths_years = np.intersect1d(data.deaths["year"], data.exposure["year"])
    last = _last_fit_year(deaths_years, jump_off, "mortality")
    if m.model == "coherent":
        nu = m.shock_df if m.shock_df > 0 else None
        mortality = CoherentLeeCarter(
            n_product=m.components, first_year=m.first_year, last_year=last, nu=nu, likelihood=m.likelihood
        )
    else:
        mortality = LeeCarter(first_year=m.first_year, last_year=last)
    f = spec.fertility
    fertility = FertilityModel(
        first_year=f.first_year,
        last_year=_last_fit_year(data.asfr["year"].values, jump_off, "fertility"),
        long_run_tfr=f.long_run_tfr,
        long_run_log_sd=f.long_run_log_sd,
    )
    first = spec.migration.first_year
    if spec.projection.migration == "net":
        last = _last_fit_year(data.net_migration["year"].values, jump_off, "net migration")
        migration = NetMigrationModel(first_year=first, last_year=last)
    else:
        if data.immigration is None or data.emigration is None:
            raise ValueError(
                f"{spec.file}: projection.migration is 'gross' but {data.name} has no gross migration flows"
            )
        last = _last_fit_year(data.immigration["year"].values, jump_off, "gross migration")
        migration = GrossMigrationModel(first_year=first, last_year=last)
    return {"mortality": mortality, "fertility": fertility, "migration": migration}


def fit_components(
    components: Mapping[str, Component],
    data: CountryData,
    settings: FitSettings,
    on_fit: Callable[[str, az.InferenceData], None] | None = None,
    restart_rhat: float | None = None,
) -> dict[str, az.InferenceData]:
    """Fit every component (a FitWarning is raised by any fit that fails its diagnostics); `on_fit` is
    called with each name and fit as it finishes.

    restart_rhat: a NUTS fit whose largest R-hat exceeds it (chains that did not mix, typically one stuck
    after a failed adaptation) is run once more with the next seed, and the fit with the lower R-hat is
    kept. The seed used is recorded as posterior attribute `fit_seed`.
    """
    fitted = {}
    for name in COMPONENTS:
        fit = components[name].fit(data, settings)
        fit.posterior.attrs["fit_seed"] = settings.seed
        first = read_diagnostics(fit)
        if restart_rhat is not None and first is not None and first.max_rhat > restart_rhat:
            retry = components[name].fit(data, replace(settings, seed=settings.seed + 1))
            retry.posterior.attrs["fit_seed"] = settings.seed + 1
            if read_diagnostics(retry).max_rhat < first.max_rhat:
                fit = retry
        fitted[name] = fit
        if on_fit:
            on_fit(name, fit)
    return fitted


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file, so readers never see a partial file."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".partial") as file:
        file.write(text)
    os.replace(file.name, path)


def posterior_files(directory: Path) -> dict[str, Path]:
    """Where each component's posterior is saved: directory/posteriors/<name>.nc."""
    return {name: Path(directory) / "posteriors" / f"{name}.nc" for name in COMPONENTS}


def fit_and_save(
    components: Mapping[str, Component],
    data: CountryData,
    settings: FitSettings,
    directory: Path,
    log: Callable[[str], None] = print,
    restart_rhat: float | None = None,
) -> dict[str, dict[str, object]]:
    """Fit every component (`fit_components`), save each posterior as it finishes (`posterior_files`) and
    write directory/fits.json (seconds, diagnostics and seed per component); returns that report.
    FitWarnings are always shown."""
    files = posterior_files(directory)
    (Path(directory) / "posteriors").mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, object]] = {}
    clock = [time.perf_counter()]

    def saved(name: str, idata: az.InferenceData) -> None:
        seconds = time.perf_counter() - clock[0]
        partial = files[name].with_suffix(".partial")
        save_posterior(idata, partial)
        os.replace(partial, files[name])
        diagnostics = read_diagnostics(idata)
        summary = str(diagnostics) if diagnostics else f"no MCMC ({idata.posterior.attrs['fit_method']})"
        report[name] = {
            "seconds": round(seconds, 1),
            "diagnostics": summary,
            "seed": idata.posterior.attrs["fit_seed"],
        }
        log(f"fitted {name} ({type(components[name]).__name__}) in {seconds:.0f} s: {summary}")
        clock[0] = time.perf_counter()

    with warnings.catch_warnings():
        warnings.simplefilter("always", FitWarning)
        fit_components(components, data, settings, on_fit=saved, restart_rhat=restart_rhat)
    write_atomically(Path(directory) / "fits.json", json.dumps(report, indent=2))
    return report


@lru_cache(maxsize=8)
def _posterior(path: str) -> az.InferenceData:
    """A saved posterior, read once per process (Dask workers reuse it across chunks)."""
    return load_posterior(path)


@dataclass(frozen=True)
class PathProjection:
    """Paths start..stop-1 of a projection; picklable (posteriors travel as file names), so Dask can call
    it on workers.

    initial: the 1 January jump-off stock (sex, age); fertility_ratio: `rate_paths.woman_years_per_woman`.
    """

    components: Mapping[str, Component]
    posteriors: Mapping[str, str]
    initial: xr.DataArray
    fertility_ratio: xr.DataArray
    jump_off: int
    horizon: int
    seed: int

    @classmethod
    def create(
        cls,
        spec: Spec,
        data: CountryData,
        components: Mapping[str, Component],
        posteriors: Mapping[str, Path],
    ) -> "PathProjection":
        p = spec.projection
        if p.jump_off not in data.population["year"].values:
            raise ValueError(f"{data.name}: no 1 January population for the jump-off year {p.jump_off}")
        return cls(
            dict(components),
            {name: str(Path(path).resolve()) for name, path in posteriors.items()},
            data.population.sel(year=p.jump_off, drop=True),
            woman_years_per_woman(data),
            p.jump_off,
            p.horizon,
            spec.paths.seed,
        )

    @property
    def event_years(self) -> np.ndarray:
        return np.arange(self.jump_off, self.jump_off + self.horizon)

    def drivers(self, paths: Paths) -> dict[str, Drivers]:
        """Every component's `Drivers` for the event years, for `paths` (a count or path indices)."""
        key = jax.random.PRNGKey(self.seed)
        return {
            name: self.components[name].drivers(
                _posterior(self.posteriors[name]), self.event_years, paths, jax.random.fold_in(key, i)
            )
            for i, name in enumerate(COMPONENTS)
        }

    @cached_property
    def stock(self) -> np.ndarray:
        """The jump-off stock as the kernel takes it: (sex, age 0..119) float32."""
        return to_kernel_ages(self.initial).transpose("sex", "age").values.astype(np.float32)

    @cached_property
    def conversion(self) -> RateConversion:
        """The `RateConversion` of the fertility component's ages and the data's woman-years per woman."""
        ages = _posterior(self.posteriors["fertility"]).posterior["age"].values
        return RateConversion.create(ages, self.fertility_ratio)

    def rates(self, paths: Paths) -> xr.Dataset:
        """The kernel rate set (draw, year, ...) of `paths` (`simulation.rates_by_year`)."""
        rates = rates_by_year(self._components(), self.drivers(paths), self.conversion)
        return rate_set(rates, path_indices(paths), self.event_years)

    def _components(self) -> tuple[tuple[str, Component], ...]:
        return tuple((name, self.components[name]) for name in COMPONENTS)

    def __call__(self, start: int, stop: int) -> xr.Dataset:
        """Paths start..stop-1 (`simulation.simulate_paths`, labelled by `results.paths_dataset`): population
        (year, draw, sex, age), flows by sex (`births_by_sex`, ...), the population's indicators, event
        totals, e0 and tfr. ValueError naming the variables if any value is not finite or any population
        negative."""
        draws = np.arange(start, stop)
        outputs, checks = simulate_paths(self._components(), self.drivers(draws), self.stock, self.conversion)
        failed = [name for name, ok in checks.items() if not bool(ok)]
        if failed:
            raise ValueError(f"paths {start}-{stop - 1}: non-finite or negative values in {failed}")
        return paths_dataset(outputs, draws, self.jump_off)


def project_alternatives(
    projection: PathProjection, codes: Sequence[str], n_paths: int, levels: dict[str, float]
) -> xr.Dataset:
    """`indicators` (dim `alternative`) of SSB's deterministic alternatives (`alternatives.alternative_rates`)
    built from the rate quantile paths (`alternatives.letter_paths`) of paths 0..n_paths-1, all run
    through the kernel at once."""
    letters = letter_paths(projection.rates(n_paths), levels)
    rates = xr.concat(
        [alternative_rates(letters, code) for code in codes], dim=pd.Index(list(codes), name="alternative")
    )
    return indicators(project_rates(projection.initial, rates, projection.jump_off, projection.horizon))
