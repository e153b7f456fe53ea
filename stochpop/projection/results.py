"""Outputs of the compiled projection (`simulate.simulate`) -> the one labelled results format.

Paths and lines share it, with their batch dims in place of `<batch>` (`draw` for sampled paths; e.g.
`alternative` or `line` for deterministic lines; none for a single line):
* population (year, <batch>, sex, age): persons on 1 January of `year`, the jump-off year and every later
  one, and its `indicators.stock_indicators` (year, <batch>);
* `<flow>_by_sex` (event_year, <batch>, sex) for the flows births, deaths, emigrations and immigrations:
  events during `event_year`, and their totals `<flow>` and net_migration (event_year, <batch>);
* what the rate source keeps (sampled paths: e0 (event_year, draw, sex) and tfr (event_year, draw)).
"""

from collections.abc import Mapping

import jax
import numpy as np
import xarray as xr

from stochpop.conventions import KERNEL_AGES, SEXES

FLOW_UNITS = {
    "births": "live births",
    "deaths": "deaths",
    "emigrations": "persons",
    "immigrations": "persons",
}
BY_SEX = tuple(f"{name}_by_sex" for name in FLOW_UNITS)
"""The names of the flows by sex."""


def results_dataset(
    outputs: Mapping[str, np.ndarray | jax.Array], jump_off: int, batch: Mapping[str, np.ndarray]
) -> xr.Dataset:
    """Label the outputs of `simulate.simulate` projected from 1 January `jump_off`: arrays with horizon + 1
    steps are by stock `year`, with horizon steps by `event_year`; the next dims are those of `batch`
    (dim name -> coordinate, in axis order), then sex, age."""
    horizon = outputs["births"].shape[0]
    stock_years = np.arange(jump_off, jump_off + horizon + 1)
    units = {"population": "persons", **dict(zip(BY_SEX, FLOW_UNITS.values(), strict=True))}
    variables = {}
    for name, values in outputs.items():
        values = np.asarray(values)
        time = "year" if values.shape[0] == horizon + 1 else "event_year"
        attrs = {"units": units[name]} if name in units else {}
        variables[name] = ((time, *batch, "sex", "age")[: values.ndim], values, attrs)
    coords = {
        "year": stock_years,
        "event_year": stock_years[:-1],
        **batch,
        "sex": list(SEXES),
        "age": KERNEL_AGES,
    }
    return xr.Dataset(variables, coords=coords, attrs={"jump_off": jump_off})
