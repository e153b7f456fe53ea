"""The mortality-only back-test: out-of-sample forecasts of e0 by sex from past jump-offs, scored beside two
simple references on the same cases (random walk with drift on e0, classic Lee-Carter).

For each jump-off T a model sees only `CountryData.known_at(T)` (deaths and exposures to T - 1) and fits
the `window` years T - window .. T - 1 (not before its data begin). It forecasts e0 (draw, horizon, sex) in
years for event years T .. T + H - 1, horizon h = 1..H, H cut where registered deaths and exposures end;
the registered e0 of those years (`targets.registered_targets`: HMD life table closed at 100+) is scored
by `scores.sample_scores`. A model is a function (known data, jump_off, horizon, n_paths, seed) -> e0
(draw, horizon, sex):
* `coherent`: the Bayesian coherent two-sex Lee-Carter (`CoherentLeeCarter`, NUTS), the model tested;
* `lee_carter`: the classic one-sex Lee-Carter (`LeeCarter`, SVD + random walk with drift per sex);
* `rw_drift`: a random walk with drift on registered e0, each sex on its own.

Each jump-off's models run in a fresh process, as in `backtest.run`: every NUTS refit compiles new XLA
programs, and one process that kept them all ran out of memory mappings after about 40 fits. The
processes share the persistent JAX compilation cache.
"""

import multiprocessing
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from typing import Any, NamedTuple

import jax
import numpy as np
import xarray as xr

from stochpop.backtest.scores import pooled, sample_scores
from stochpop.backtest.targets import registered_targets
from stochpop.components.mortality import CoherentLeeCarter, LeeCarter
from stochpop.components.settings import FitSettings
from stochpop.conventions import SEXES
from stochpop.data.container import CountryData
from stochpop.demography.indicators import observed_indicators
from stochpop.run.compilation_cache import enable_compilation_cache
from stochpop.run.fitting import fit_components

Model = Callable[[CountryData, int, int, int, int], xr.DataArray]
"""(known data, jump_off, horizon, n_paths, seed) -> e0 (draw, horizon 1..horizon, sex) in years."""
E0_TARGETS = {f"e0_{sex}": sex for sex in SEXES}
"""`targets.TARGETS` names of e0 -> sex."""
WINDOW = 25
"""Fit window in years (T - WINDOW .. T - 1)."""
LEVELS = (0.5, 0.8, 0.95)
RESTART_RHAT = 1.05
"""A refit whose largest R-hat exceeds this is run once more with the next seed (the spec's default)."""
BACKTEST_FIT = FitSettings(warmup=500, samples=500)
"""NUTS settings of the coherent refits: 2 chains of 500 warmup and 500 kept draws, a third of a
production fit's (`FitSettings()`), for a back-test of many refits."""


def mortality_data(data: CountryData) -> CountryData:
    """`data` for a mortality-only back-test: fertility replaced by zeros over the years of deaths and the
    gross flows dropped. `known_at(T)` cuts every event series and refuses a jump-off before any of them
    begins (Norway's HFD fertility starts in 1967, its HMD deaths in 1846); the models here read deaths,
    exposures and population only."""
    years = data.deaths["year"].values
    asfr = xr.zeros_like(data.asfr.isel(year=0, drop=True)).expand_dims(year=years)
    asfr.attrs = {"placeholder": "mortality-only back-test: fertility not used"}
    return replace(data, asfr=asfr, immigration=None, emigration=None)


def fit_years(known: CountryData, jump_off: int, window: int = WINDOW) -> tuple[int, int]:
    """First and last year of the fit window: jump_off - window (not before deaths begin), jump_off - 1."""
    return max(jump_off - window, int(known.deaths["year"][0])), jump_off - 1


def e0_on_horizon(e0: xr.DataArray, jump_off: int) -> xr.DataArray:
    """e0 (draw, year, sex) of event years jump_off.. -> (draw, horizon, sex), h = year - jump_off + 1."""
    horizon = e0["year"].values - jump_off + 1
    return e0.rename(year="horizon").assign_coords(horizon=horizon).transpose("draw", "horizon", "sex")


def rw_drift(
    known: CountryData, jump_off: int, horizon: int, n_paths: int, seed: int, *, window: int = WINDOW
) -> xr.DataArray:
    """Random walk with drift on registered e0, each sex on its own: over the n window years, drift = mean
    and sigma = sd (ddof 1) of the n - 1 yearly differences. Path i draws its drift from N(drift, sigma^2 /
    (n - 1)) and its yearly steps from N(drift_i, sigma^2), so e0(T - 1 + h) ~ N(e0(T - 1) + h drift,
    h sigma^2 + h^2 sigma^2 / (n - 1)). e0 (draw, horizon, sex) in years, float64."""
    first, last = fit_years(known, jump_off, window)
    e0 = observed_indicators(known)["e0"].sel(event_year=slice(first, last)).transpose("event_year", "sex")
    steps = np.diff(e0.values, axis=0)  # (n - 1, sex)
    drift, sigma = steps.mean(0), steps.std(0, ddof=1)
    rng = np.random.default_rng(seed)
    drifts = drift + sigma / np.sqrt(len(steps)) * rng.standard_normal((n_paths, 1, len(SEXES)))
    walk = np.cumsum(drifts + sigma * rng.standard_normal((n_paths, horizon, len(SEXES))), axis=1)
    return xr.DataArray(
        e0.values[-1] + walk,
        coords={"draw": np.arange(n_paths), "horizon": np.arange(1, horizon + 1), "sex": list(SEXES)},
        dims=("draw", "horizon", "sex"),
        attrs={"units": "years"},
    )


def _component_e0(
    component: CoherentLeeCarter | LeeCarter,
    settings: FitSettings,
    known: CountryData,
    jump_off: int,
    horizon: int,
    n_paths: int,
    seed: int,
) -> xr.DataArray:
    """Fit a mortality component and forecast e0 (draw, horizon, sex) for event years jump_off..; a NUTS fit
    with chains that did not mix (R-hat above `RESTART_RHAT`) is rerun once with the next seed, as the
    main back-test does (`run.fitting.fit_components`)."""
    fit = fit_components({"mortality": component}, known, settings, restart_rhat=RESTART_RHAT)["mortality"]
    years = list(range(jump_off, jump_off + horizon))
    return e0_on_horizon(component.forecast(fit, years, n_paths, jax.random.PRNGKey(seed))["e0"], jump_off)


def lee_carter(
    known: CountryData, jump_off: int, horizon: int, n_paths: int, seed: int, *, window: int = WINDOW
) -> xr.DataArray:
    """The classic one-sex Lee-Carter fitted on the window (n_paths draws of drift and sigma, as the
    SSB-like baseline fits it), e0 (draw, horizon, sex) in years."""
    first, last = fit_years(known, jump_off, window)
    settings = FitSettings(chains=1, samples=n_paths, seed=seed)
    return _component_e0(
        LeeCarter(first_year=first, last_year=last), settings, known, jump_off, horizon, n_paths, seed
    )


def coherent(
    known: CountryData,
    jump_off: int,
    horizon: int,
    n_paths: int,
    seed: int,
    *,
    window: int = WINDOW,
    settings: FitSettings = BACKTEST_FIT,
    options: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """The coherent two-sex Lee-Carter (`CoherentLeeCarter(**options)`, e.g. {"jump_off": "observed"})
    fitted by NUTS on the window (`settings`, its seed replaced by `seed`), e0 (draw, horizon, sex) in
    years."""
    first, last = fit_years(known, jump_off, window)
    component = CoherentLeeCarter(first_year=first, last_year=last, **(options or {}))
    return _component_e0(component, replace(settings, seed=seed), known, jump_off, horizon, n_paths, seed)


MODELS: dict[str, Callable[..., xr.DataArray]] = {
    "coherent": coherent,
    "lee_carter": lee_carter,
    "rw_drift": rw_drift,
}


def models(
    names: Sequence[str] = tuple(MODELS),
    window: int = WINDOW,
    settings: FitSettings = BACKTEST_FIT,
    **coherent_options: Any,
) -> dict[str, Model]:
    """The named `MODELS` with their window, and the coherent model's NUTS settings and options (picklable,
    for the jump-offs' processes)."""
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown mortality models {unknown}; choose from {list(MODELS)}")
    extra = {"coherent": {"settings": settings, "options": coherent_options}}
    return {name: partial(MODELS[name], window=window, **extra.get(name, {})) for name in names}


def forecast_jump_off(
    chosen: Mapping[str, Model], known: CountryData, jump_off: int, horizon: int, n_paths: int, seed: int
) -> xr.DataArray:
    """Every model's e0 (model, draw, horizon, sex) from one jump-off's known data."""
    by_model = [model(known, jump_off, horizon, n_paths, seed) for model in chosen.values()]
    return xr.concat(by_model, dim="model").assign_coords(model=list(chosen))


def _forecast_in_process(*args: Any) -> xr.DataArray:
    enable_compilation_cache()
    return forecast_jump_off(*args)


def forecast_horizon(data: CountryData, jump_off: int, horizon: int) -> int:
    """The horizons to forecast from `jump_off`: at most `horizon`, and not beyond the last year with
    registered deaths and exposures; ValueError if there is none."""
    last = int(data.mortality_rates["year"][-1])
    if last < jump_off:
        raise ValueError(f"{data.name}: no registered deaths in or after the jump-off {jump_off}")
    return min(horizon, last - jump_off + 1)


def forecasts(
    data: CountryData,
    chosen: Mapping[str, Model],
    jump_offs: Sequence[int],
    horizon: int = 20,
    n_paths: int = 1000,
    seed: int = 0,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> xr.DataArray:
    """e0 (model, jump_off, draw, horizon, sex) in years, NaN beyond the registered data, each jump-off's
    models given `mortality_data(data).known_at(jump_off)` only. `workers` processes at a time, each
    jump-off in a fresh one (0: all in this process)."""
    data = mortality_data(data)
    tasks = {
        t: (chosen, data.known_at(t), t, forecast_horizon(data, t, horizon), n_paths, seed) for t in jump_offs
    }
    spawn = multiprocessing.get_context("spawn")  # JAX does not survive fork
    pool: Executor = (
        ProcessPoolExecutor(max_workers=workers, mp_context=spawn, max_tasks_per_child=1)
        if workers
        else ThreadPoolExecutor(max_workers=1)
    )
    run: Callable[..., xr.DataArray] = _forecast_in_process if workers else forecast_jump_off
    start, results = time.perf_counter(), {}
    with pool:
        futures = {t: pool.submit(run, *task) for t, task in tasks.items()}
        for t, future in futures.items():
            results[t] = future.result()
            log(f"jump-off {t}: done, {time.perf_counter() - start:.0f} s since the start")
    by_jump_off = xr.concat(list(results.values()), dim="jump_off", join="outer")  # NaN beyond the data
    return by_jump_off.assign_coords(jump_off=list(results)).transpose(
        "model", "jump_off", "draw", "horizon", "sex"
    )


def score_cases(forecast: xr.DataArray, data: CountryData, levels: Sequence[float] = LEVELS) -> xr.Dataset:
    """`scores.sample_scores` of e0 forecasts (..., jump_off, draw, horizon, sex) against the registered e0
    of `data` (`targets.registered_targets`): every case (..., jump_off, horizon, sex[, level]); NaN where
    there is no forecast or no registered value."""
    jump_offs = forecast["jump_off"].values
    registered = registered_targets(data, jump_offs, forecast.sizes["horizon"])[list(E0_TARGETS)]
    by_target = xr.Dataset({name: forecast.sel(sex=sex, drop=True) for name, sex in E0_TARGETS.items()})
    cases = sample_scores(by_target, registered, levels)
    cases = cases.rename(target="sex").assign_coords(sex=[E0_TARGETS[t] for t in cases["target"].values])
    return cases.transpose(*forecast.isel(draw=0, drop=True).dims, ...)


def pooled_tables(cases: xr.Dataset, horizons: Sequence[int] = (10, 20)) -> xr.Dataset:
    """`scores.pooled` means of the cases over jump-offs and horizons 1..h, each case weighted equally, for
    each h of `horizons` (dim `horizons`, labels "1-h"): per model and sex, and over both sexes (sex
    "both"). Variables coverage and interval_score by `level`, crps, bias, mape, mean_pit, n."""
    tables = []
    for last in horizons:
        within = cases.sel(horizon=cases["horizon"] <= last)
        by_sex = pooled(within.stack(case=("jump_off", "horizon")), over="case")
        both = pooled(within.stack(case=("jump_off", "horizon", "sex")), over="case")
        tables.append(xr.concat([by_sex, both.expand_dims(sex=["both"])], dim="sex"))
    return xr.concat(tables, dim="horizons").assign_coords(horizons=[f"1-{h}" for h in horizons])


class MortalityBacktest(NamedTuple):
    """forecast: e0 (model, jump_off, draw, horizon, sex); cases: `score_cases`; pooled: `pooled_tables`."""

    forecast: xr.DataArray
    cases: xr.Dataset
    pooled: xr.Dataset


def mortality_backtest(
    forecast: xr.DataArray, data: CountryData, levels: Sequence[float] = LEVELS
) -> MortalityBacktest:
    """`forecasts` (e0 from every jump-off with every model) scored on the same cases against `data`."""
    cases = score_cases(forecast, data, levels)
    return MortalityBacktest(forecast, cases, pooled_tables(cases))
