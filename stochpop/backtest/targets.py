"""The quantities a back-test scores, on a common (horizon) axis for forecasts and registered values.

Horizon h = 1, 2, ... counts projection years from the jump-off T (1 January T):
* stocks (total population, age groups) are the 1 January population of T + h: h years ahead;
* events (births, deaths, net migration) and rates (TFR, e0 by sex) are those of event year T + h - 1,
  the h-th projected year.
"""

from collections.abc import Sequence

import numpy as np
import xarray as xr

from stochpop.data.container import CountryData
from stochpop.demography.indicators import observed_indicators

STOCKS = ("total_population", "age_0_19", "age_20_64", "age_65_plus", "age_80_plus")
EVENTS = ("births", "deaths", "net_migration", "tfr")
TARGETS = (*STOCKS, *EVENTS, "e0_female", "e0_male")
"""Every target, in report order."""
MID_YEAR = "total_population_mid_year"
"""Registered only, to score external projections of the 1 July population (UN WPP): the mean of the
1 January stocks of the year and the next, placed like an event (the h-th year)."""


def on_horizon(indicators: xr.Dataset, jump_off: int, horizon: int) -> xr.Dataset:
    """`TARGETS` of an indicator dataset (stocks by `year`, events by `event_year`, e0 by `sex`; any other
    dims such as `draw` kept) as variables on a `horizon` dim 1..horizon, NaN where a year is absent."""
    steps = np.arange(1, horizon + 1)

    def at(variable: xr.DataArray, dim: str, years: np.ndarray) -> xr.DataArray:
        selected = variable.reindex({dim: years}).rename({dim: "horizon"})
        return selected.assign_coords(horizon=steps)

    out = {name: at(indicators[name], "year", jump_off + steps) for name in STOCKS}
    out |= {name: at(indicators[name], "event_year", jump_off + steps - 1) for name in EVENTS}
    for sex in ("female", "male"):
        e0 = indicators["e0"].sel(sex=sex, drop=True)
        out[f"e0_{sex}"] = at(e0, "event_year", jump_off + steps - 1)
    return xr.Dataset(out)


def registered_targets(data: CountryData, jump_offs: Sequence[int] | np.ndarray, horizon: int) -> xr.Dataset:
    """What was registered (`indicators.observed_indicators`) for each jump-off and horizon:
    (jump_off, horizon), NaN beyond the data; `TARGETS` and `MID_YEAR`."""
    observed = observed_indicators(data)
    total = observed["total_population"]
    mid_year = (0.5 * (total + total.shift(year=-1))).dropna("year").rename(year="event_year")
    steps = np.arange(1, horizon + 1)
    by_jump_off = [
        on_horizon(observed, int(t), horizon).assign(
            {
                MID_YEAR: mid_year.reindex(event_year=t + steps - 1)
                .rename(event_year="horizon")
                .assign_coords(horizon=steps)
            }
        )
        for t in jump_offs
    ]
    return xr.concat(by_jump_off, dim="jump_off").assign_coords(jump_off=np.asarray(jump_offs))
