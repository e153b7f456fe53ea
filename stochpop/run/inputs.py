"""What a specification names, made real: its country data and its components."""

from pathlib import Path

import numpy as np

from stochpop.components.contract import Component
from stochpop.components.fertility import FertilityModel
from stochpop.components.migration import GrossMigrationModel, NetMigrationModel
from stochpop.components.mortality import CoherentLeeCarter, LeeCarter
from stochpop.data.container import CountryData
from stochpop.data.demo import demo_country
from stochpop.data.norway import load_country, shared_data_dir
from stochpop.data.wpp import shared_world_folder
from stochpop.run.spec import Spec, SpecError


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
    mortality: Component
    if m.model == "coherent":
        nu = m.shock_df if m.shock_df > 0 else None
        mortality = CoherentLeeCarter(
            n_product=m.components,
            first_year=m.first_year,
            last_year=last,
            nu=nu,
            likelihood=m.likelihood,
            jump_off=m.jump_off,
            ratio=m.ratio,
            drift=m.drift,
            drift_world=str(shared_world_folder()) if m.drift == "world" else None,
        )
    else:
        mortality = LeeCarter(first_year=m.first_year, last_year=last)
    f = spec.fertility
    fertility = FertilityModel(
        first_year=f.first_year,
        last_year=_last_fit_year(data.asfr["year"].values, jump_off, "fertility"),
        long_run_tfr=f.long_run_tfr,
        long_run_log_sd=f.long_run_log_sd,
        long_run_world=str(shared_world_folder()) if f.long_run == "world" else None,
        jump_off=f.jump_off,
        dynamics=f.dynamics,
    )
    first = spec.migration.first_year
    migration: Component
    if spec.projection.migration == "net":
        last = _last_fit_year(data.net_migration["year"].values, jump_off, "net migration")
        migration = NetMigrationModel(
            first_year=first,
            last_year=last,
            level=spec.migration.level,
            total=spec.migration.total,
            bounds=spec.migration.bounds,
            future_scale=spec.migration.future_scale,
        )
    else:
        if data.immigration is None or data.emigration is None:
            raise ValueError(
                f"{spec.file}: projection.migration is 'gross' but {data.name} has no gross migration flows"
            )
        last = _last_fit_year(data.immigration["year"].values, jump_off, "gross migration")
        migration = GrossMigrationModel(first_year=first, last_year=last)
    return {"mortality": mortality, "fertility": fertility, "migration": migration}


def data_folder(spec: Spec, data_path: str | Path | None = None) -> Path:
    """The folder of the spec's country data (`data.path`, relative paths inside the shared data folder);
    `data_path` overrides `data.path`."""
    location = data_path if data_path is not None else spec.data.path
    if location is None:  # `parse_spec` rejects this; a Spec built in code may not
        raise SpecError(f"{spec.file}: data.path: required when data.source is 'hmd-hfd'")
    path = Path(location)
    if not path.is_absolute():
        root = shared_data_dir()
        if root is None:
            raise SpecError(
                f"{spec.file}: data.path: {path} is relative but no shared data folder was found "
                "(set STOCHPOP_SHARED_DATA or place ../shared/data beside the checkout)"
            )
        path = root / path
    return path


def load_data(spec: Spec, data_path: str | Path | None = None) -> CountryData:
    """The country data a spec names; `data_path` overrides `data.path`."""
    if spec.data.source == "demo":
        return demo_country(seed=spec.data.seed)
    path = data_folder(spec, data_path)
    return load_country(path, name=path.name.capitalize())
