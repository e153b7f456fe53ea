"""An SSB-like deterministic projection with High/Low lines, the baseline a back-test scores beside.

Made as SSB makes its alternatives (reference ch. 4), from the data known at the jump-off only:
* mortality: classic Lee-Carter (`components.mortality.LeeCarter`) fitted on the window; M is the median
  of its forecast rates, and life expectancy L/H the cell-wise 90%/10% quantiles of the rates (an 80%
  band; H = low mortality), e0 lines the 10/50/90% quantiles of the forecast e0;
* fertility: the last observed ASFR held (M), H and L +-10% (SSB's TFR spread);
* net migration: the mean of the last `migration_years` years by sex and age (M); H/L add/subtract one
  standard deviation of the annual totals, spread over ages and sexes in proportion to |M|.

The three alternatives MMMM, HHMH and LLML run as lines through the same projection as the stochastic
paths (`projection.lines.project_lines`). Per target and horizon, line M is MMMM and L/H are the
lowest/highest of the three (the band the lines span; for deaths, say, high life expectancy lowers deaths
while the larger population raises them).
"""

import jax
import numpy as np
import xarray as xr

from stochpop.backtest.targets import on_horizon
from stochpop.components.mortality import LeeCarter
from stochpop.components.settings import FitSettings
from stochpop.data.container import CountryData
from stochpop.projection.alternatives import alternative_rates, letter_paths
from stochpop.projection.conversion import kernel_fertility, woman_years_per_woman
from stochpop.projection.lines import project_lines
from stochpop.projection.rate_sets import mortality_end_of_year, to_kernel_ages

LINE_CODES = {"M": "MMMM", "H": "HHMH", "L": "LLML"}
LEVELS = {"L": 0.1, "M": 0.5, "H": 0.9}
"""Quantiles of the Lee-Carter forecast for the life-expectancy letters (an 80% band)."""


def _lines(medium: xr.DataArray, low: xr.DataArray, high: xr.DataArray) -> xr.DataArray:
    return xr.concat([low, medium, high], dim="letter").assign_coords(letter=list("LMH"))


def ssb_like_letters(
    data: CountryData,
    jump_off: int,
    horizon: int,
    first_year: int,
    fertility_change: float = 0.1,
    migration_years: int = 10,
    mortality_paths: int = 1000,
    seed: int = 0,
) -> tuple[xr.Dataset, xr.DataArray, xr.DataArray]:
    """The L/M/H rate letters (dim `letter`; `alternatives.alternative_rates` builds codes from them), the
    TFR lines (letter, year) and e0 lines (letter, year, sex), for event years jump_off..+horizon-1.

    `data` must hold only what was known at the jump-off (`CountryData.known_at`).
    """
    years = np.arange(jump_off, jump_off + horizon)
    observed = data.years[data.years < jump_off]
    lee_carter = LeeCarter(first_year=first_year, last_year=int(observed[-1]))
    fit = lee_carter.fit(data, FitSettings(chains=1, samples=mortality_paths, seed=seed))
    forecast = lee_carter.forecast(fit, years.tolist(), mortality_paths, jax.random.PRNGKey(seed))
    mortality = letter_paths(xr.Dataset({"mortality": mortality_end_of_year(forecast["mortality"])}), LEVELS)
    e0 = forecast["e0"].quantile(list(LEVELS.values()), dim="draw").assign_coords(quantile=list("LMH"))

    asfr = data.asfr.sel(year=data.asfr["year"] < jump_off).isel(year=-1, drop=True)
    medium = kernel_fertility(asfr, woman_years_per_woman(data)).expand_dims(year=years)
    fertility = _lines(medium, (1 - fertility_change) * medium, (1 + fertility_change) * medium)
    tfr_held = float(asfr.sum())
    tfr = xr.DataArray(
        np.outer([1 - fertility_change, 1.0, 1 + fertility_change], np.full(horizon, tfr_held)),
        dims=("letter", "year"),
        coords={"letter": list("LMH"), "year": years},
    )

    recent = data.net_migration.isel(year=slice(-migration_years, None))
    schedule = to_kernel_ages(recent.mean("year"))
    spread = (
        float(recent.sum(("sex", "age")).std("year", ddof=1)) * abs(schedule) / float(abs(schedule).sum())
    )
    net = schedule.expand_dims(year=years)
    migration = _lines(net, net - spread, net + spread)

    letters = xr.Dataset(
        {
            "mortality": mortality["mortality"].sel(letter=list("LMH")),
            "fertility": fertility,
            "net_migration": migration,
        }
    )
    return letters, tfr, e0.rename(quantile="letter")


def ssb_like_lines(data: CountryData, jump_off: int, horizon: int, first_year: int, **options) -> xr.Dataset:
    """`targets.TARGETS` of the SSB-like projection, (line L/M/H, horizon); `options` go to
    `ssb_like_letters`."""
    letters, tfr, e0 = ssb_like_letters(data, jump_off, horizon, first_year, **options)
    rates = xr.concat(
        [alternative_rates(letters, code) for code in LINE_CODES.values()], dim="line"
    ).assign_coords(line=list(LINE_CODES))
    initial = data.population.sel(year=jump_off, drop=True)
    runs = project_lines(initial, rates, jump_off, horizon)
    runs["tfr"] = tfr.rename(letter="line", year="event_year")
    runs["e0"] = e0.rename(letter="line", year="event_year")
    targets = on_horizon(runs, jump_off, horizon)
    spanned = xr.concat(
        [targets.min("line"), targets.sel(line="M", drop=True), targets.max("line")], dim="line"
    )
    return spanned.assign_coords(line=["L", "M", "H"]).transpose("line", "horizon")
