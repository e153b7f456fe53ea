"""Fitting a run's components: fit each (restarting a fit whose chains did not mix), save the posteriors as
they finish, with a progress bar, and report what each fit took."""

import json
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from functools import partial

import arviz as az
from tqdm import tqdm

from stochpop.components.contract import Component
from stochpop.components.fitting import FitWarning, read_diagnostics, refit_if_unmixed
from stochpop.components.posterior import save_posterior
from stochpop.components.settings import FitSettings
from stochpop.data.container import CountryData
from stochpop.run.directory import RunDirectory, write_atomically


def fit_components(
    components: Mapping[str, Component],
    data: CountryData,
    settings: FitSettings,
    on_fit: Callable[[str, az.InferenceData], None] | None = None,
    restart_rhat: float | None = None,
) -> dict[str, az.InferenceData]:
    """Fit every component (a FitWarning is raised by any fit that fails its diagnostics); `on_fit` is
    called with each name and fit as it finishes.

    restart_rhat: a NUTS fit whose largest R-hat exceeds it is run once more with the next seed
    (`refit_if_unmixed`; the seed used is recorded as posterior attribute `fit_seed`).
    """
    fitted = {}
    for name, component in components.items():  # in their order (`stochpop.projection.sampled.COMPONENTS`)
        fitted[name] = refit_if_unmixed(partial(component.fit, data), settings, restart_rhat)
        if on_fit:
            on_fit(name, fitted[name])
    return fitted


def fit_and_save(
    components: Mapping[str, Component],
    data: CountryData,
    settings: FitSettings,
    directory: RunDirectory,
    log: Callable[[str], None] = tqdm.write,
    restart_rhat: float | None = None,
) -> dict[str, dict[str, object]]:
    """Fit every component (`fit_components`) with a progress bar, save each posterior as it finishes
    (`RunDirectory.posterior_files`) and write the run's fits.json (seconds, diagnostics and seed per
    component); returns that report. FitWarnings are always shown."""
    files = directory.posterior_files
    report: dict[str, dict[str, object]] = {}
    clock = [time.perf_counter()]
    bar = tqdm(total=len(files), desc="fits", unit="fit", file=sys.stderr, leave=False)

    def saved(name: str, idata: az.InferenceData) -> None:
        seconds = time.perf_counter() - clock[0]
        save_posterior(idata, files[name])
        diagnostics = read_diagnostics(idata)
        summary = str(diagnostics) if diagnostics else f"no MCMC ({idata['posterior'].attrs['fit_method']})"
        report[name] = {
            "seconds": round(seconds, 1),
            "diagnostics": summary,
            "seed": idata["posterior"].attrs["fit_seed"],
        }
        log(f"fitted {name} ({type(components[name]).__name__}) in {seconds:.0f} s: {summary}")
        bar.update()
        clock[0] = time.perf_counter()

    with bar, warnings.catch_warnings():
        warnings.simplefilter("always", FitWarning)
        fit_components(components, data, settings, on_fit=saved, restart_rhat=restart_rhat)
    write_atomically(directory.fits_file, json.dumps(report, indent=2))
    return report
