"""A run's regions (spec [regions]): its division, the regional parts fitted into the run directory, the
regional model its paths draw from, and the registered regional history.

The parts are fitted on Norway's regional data of the event years `regions.first_year` .. jump-off - 1
(nothing later: a back-test's jump-off sees only its past):
* fertility_levels, mortality_levels (`regions.levels`): the counties' registered births and deaths (on
  other divisions' regions: `regions.division_inputs`);
* international (`regions.immigration_shares`): the counties' registered shares of the net international
  migration (net runs) or of the immigrations (gross runs), with forecast years to the jump-off; other
  divisions' regions take each county's share split by their persons (`division_inputs.share_split`);
* internal (`regions.internal_model`): the regions' account's net internal migration, its international
  migration allocated by the fitted shares (posterior mean), and the registered gross flows; counties with
  a random effect per pair of counties, other divisions (SSB's 159 labour-market regions, a table) with
  the linear destinations (`fit_internal(pair_effects=False)`: population elasticity and same-landsdel,
  same-county and log-distance effects, parameters growing with the regions, not the pairs);
* municipal (`regions.municipalities`), with `regions.municipalities`: municipal shares to the jump-off;
* labour (`regions.labour_panel`), with `regions.unemployment`: the panel of the counties' net internal
  migration on NAV's registered unemployment (the years both cover before the jump-off).
"""

import time
from collections.abc import Callable
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr

from stochpop.components.fitting import read_diagnostics
from stochpop.components.posterior import load_posterior, save_posterior
from stochpop.components.settings import FitSettings
from stochpop.data.container import CountryData
from stochpop.data.labour import read_unemployment, read_unemployment_scenario
from stochpop.data.norway import shared_data_dir
from stochpop.data.regional import read_regional_population
from stochpop.projection.rate_sets import to_kernel_ages
from stochpop.regions.division_inputs import (
    division_inputs,
    division_internal_data,
    region_counties,
    region_shares,
    share_split,
)
from stochpop.regions.divisions import MUNICIPAL_FILE, Division, load_division, regional_population
from stochpop.regions.estimated_rates import regional_account
from stochpop.regions.immigration_shares import fit_immigration_shares, norway_share_inputs
from stochpop.regions.internal_model import county_internal_data, fit_internal
from stochpop.regions.labour_panel import county_panel, fit_panel, net_internal_rates
from stochpop.regions.levels import fit_levels
from stochpop.regions.model import RegionalModel
from stochpop.regions.municipalities import fit_municipal_shares
from stochpop.regions.norway_counties import CountyInputs, county_inputs
from stochpop.run.spec import Spec, SpecError

Log = Callable[[str], None]
UNEMPLOYMENT_FILE = Path("norway") / "labour" / "arbeidsledighet.csv"
"""NAV's registered unemployment by county (`data.labour.read_unemployment`), in the shared data folder."""


def _shared_root(spec: Spec) -> Path:
    root = shared_data_dir()
    if root is None:
        raise SpecError(
            f"{spec.file}: regions.path: {spec.regions.path} is relative but no shared data folder was found "
            "(set STOCHPOP_SHARED_DATA or place ../shared/data beside the checkout)"
        )
    return root


def regional_folder(spec: Spec) -> Path:
    """The regional data folder of the spec (`regions.path`, relative to the shared data folder)."""
    path = Path(spec.regions.path)
    return path if path.is_absolute() else _shared_root(spec) / path


def division(spec: Spec) -> Division:
    """The spec's division of the municipalities into regions."""
    r = spec.regions
    return load_division(r.division, regional_folder(spec), r.table)


def _counties(spec: Spec) -> bool:
    """True where the spec's regions are the counties (their own model and registered data)."""
    return spec.regions.division == "county"


def fitted_years(spec: Spec) -> np.ndarray:
    """The event years the regional parts are fitted on: regions.first_year .. jump-off - 1."""
    years = np.arange(spec.regions.first_year, spec.projection.jump_off)
    if years.size < 3:
        raise SpecError(
            f"{spec.file}: regions.first_year: {spec.regions.first_year} leaves fewer than three event years "
            f"before the jump-off {spec.projection.jump_off}"
        )
    return years


def parts(spec: Spec) -> tuple[str, ...]:
    """The regional parts a spec fits."""
    municipal = ("municipal",) if spec.regions.municipalities else ()
    labour = ("labour",) if spec.regions.unemployment else ()
    return ("fertility_levels", "mortality_levels", "international", "internal", *municipal, *labour)


def regional_settings(spec: Spec, settings: FitSettings) -> FitSettings:
    """`settings` with the warm-up and kept draws per chain that [regions] sets, where it sets them."""
    return settings.with_draws(spec.regions.warmup, spec.regions.samples)


def fit_regions(
    spec: Spec, data: CountryData, files: dict[str, Path], settings: FitSettings, log: Log = print
) -> dict[str, dict[str, object]]:
    """Fit the spec's regional parts (module docstring) with `settings` or the spec's own [regions] warm-up
    and draws (`regional_settings`), save each posterior into `files` (part -> file) as it finishes, and
    return each fit's seconds and diagnostics (for fits.json)."""
    settings = regional_settings(spec, settings)
    folder = regional_folder(spec)
    years = fitted_years(spec)
    jump_off = spec.projection.jump_off
    d = division(spec)
    inputs = (
        county_inputs(data, folder, years) if _counties(spec) else division_inputs(data, folder, d, years)
    )
    report: dict[str, dict[str, object]] = {}
    clock = [time.perf_counter()]

    def saved(part: str, idata: az.InferenceData) -> None:
        save_posterior(idata, files[part])
        seconds = time.perf_counter() - clock[0]
        report[part] = {"seconds": round(seconds, 1), "diagnostics": str(read_diagnostics(idata))}
        log(f"fitted regional {part} in {seconds:.0f} s: {report[part]['diagnostics']}")
        clock[0] = time.perf_counter()

    for part, kind in (("fertility_levels", "births"), ("mortality_levels", "deaths")):
        saved(part, fit_levels(inputs.expected[kind], getattr(inputs, kind), 1, settings))

    flow = "net" if spec.projection.migration == "net" else "immigration"
    root = folder.parents[1]  # the shared data folder: regions.path is <root>/norway/regional
    shares = norway_share_inputs(root, flow)
    later = tuple(int(y) for y in shares.years if y >= jump_off)
    if later:
        shares = norway_share_inputs(root, flow, skip=later)
    horizon = max(int(jump_off - shares.years[-1]), 1)
    international = fit_immigration_shares(*shares, horizon=horizon, settings=settings)
    saved("international", international)

    share = international["posterior"]["share"].mean(["chain", "draw"]).sel(year=years)
    if _counties(spec):
        internal = county_internal_data(inputs, folder, _international(inputs, share))
    else:
        weights = _county_weights(spec, d, share["region"].values)
        share = xr.DataArray(
            region_shares(share.transpose("year", "region").values, weights),
            dims=("year", "region"),
            coords={"year": years, "region": inputs.population["region"].values},
        )
        internal = division_internal_data(inputs, folder, d, _international(inputs, share))
    counties = _counties(spec)  # the pair model with age profiles; the linear destinations without
    saved("internal", fit_internal(internal, 1, settings, pair_effects=counties, age_profiles=counties))

    if spec.regions.municipalities:
        municipal = _municipal_totals(folder, jump_off)
        saved("municipal", fit_municipal_shares(municipal, d.region_of, jump_off, settings))
    if spec.regions.unemployment:
        unemployment = read_unemployment(root / UNEMPLOYMENT_FILE)["rate"]
        panel = county_panel(
            net_internal_rates(inputs)["rate"], unemployment.sel(year=slice(None, jump_off - 1))
        )
        saved("labour", fit_panel(panel, settings))
    return report


def _county_weights(spec: Spec, d: Division, counties: np.ndarray) -> xr.DataArray:
    """`division_inputs.region_counties` of the division's regions, its counties checked against
    `counties` (C,), the international shares' regions."""
    weights = region_counties(d, regional_folder(spec))
    if not np.array_equal(weights["county"].values, np.asarray(counties).astype(str)):
        raise SpecError(
            f"{spec.file}: regions.division: the international shares' counties {list(counties)} are not the "
            f"division's counties {list(weights['county'].values)}"
        )
    return weights


def _international(inputs: CountyInputs, share: xr.DataArray) -> xr.DataArray:
    """The regions' international net migration (year, region, sex, age): the national net of the regions'
    account (`estimated_rates.regional_account` at national rates; internal moves cancel in its sum over
    regions) by sex and age, shared by `share` (year, region)."""
    ones = xr.ones_like(inputs.expected["births"])
    national = regional_account(inputs.population, inputs.rates, ones, ones)["net"].sum("region")
    return national * share


def _municipal_totals(folder: Path, last_year: int) -> xr.DataArray:
    """Municipal persons on 1 January (year, municipality) to `last_year`."""
    population = read_regional_population(folder / MUNICIPAL_FILE).sum(["sex", "age"], min_count=1)
    return population.sel(year=slice(None, last_year)).rename(region="municipality")


def regional_model(spec: Spec, files: dict[str, Path]) -> RegionalModel:
    """The regional model of a fitted run: its regions' registered 1 January jump-off stock at kernel ages,
    the saved posteriors `files`, the run's seed and internal-migration letter, the municipalities."""
    d = division(spec)
    folder = regional_folder(spec)
    jump_off = spec.projection.jump_off
    population = regional_population(d, folder).sel(year=jump_off, drop=True)
    start = to_kernel_ages(population).transpose("region", "sex", "age").values.astype(np.float32)
    municipal_regions = municipal_start = None
    if spec.regions.municipalities:
        municipal = _municipal_totals(folder, jump_off).sel(year=jump_off)
        municipal_regions = {str(m): str(d.region_of[m]) for m in municipal["municipality"].values}
        municipal_start = municipal.values
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise SpecError(f"no saved regional posteriors {missing} (run `stochpop fit` first)")
    loaded = {part: load_posterior(file) for part, file in files.items()}  # fail here, not on a worker
    split = None
    if not _counties(spec):
        weights = _county_weights(spec, d, loaded["international"]["posterior"]["region"].values)
        split = share_split(weights)
    return RegionalModel(
        regions=tuple(str(r) for r in population["region"].values),
        jump_off=jump_off,
        start=start,
        posteriors={part: str(file.resolve()) for part, file in files.items()},
        seed=spec.paths.seed,
        internal=spec.regions.internal,
        municipal_regions=municipal_regions,
        municipal_start=municipal_start,
        unemployment=None
        if spec.regions.unemployment is None
        else read_unemployment_scenario(
            spec.regions.unemployment,
            [str(r) for r in population["region"].values],
            np.arange(jump_off, jump_off + spec.projection.horizon),
        ),
        international_split=split,
    )


def registered_totals(spec: Spec) -> xr.DataArray:
    """The regions' registered persons on 1 January (year, region), for the fan charts."""
    return regional_population(division(spec), regional_folder(spec)).sum(["sex", "age"], min_count=1)
