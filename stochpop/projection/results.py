"""Kernel outputs -> labelled `xr.Dataset` (the one results format, deterministic or stochastic).

Variables of `projection_dataset`:
* population (year, [draw], sex, age): persons on 1 January of `year`, from the jump-off year on;
* births, deaths, emigrations, immigrations (event_year, [draw], sex): events during `event_year`,
  by age at end of year where the kernel returned them by age (then with an `age` dim).
`paths_dataset` labels a chunk of sampled paths (`simulation.simulate_paths`) the same way, the flows by
sex then named `<flow>_by_sex` beside the indicators.
"""

import numpy as np
import xarray as xr

from stochpop.conventions import KERNEL_AGES, SEXES
from stochpop.projection.kernel import Flows

FLOW_UNITS = {
    "births": "live births",
    "deaths": "deaths",
    "emigrations": "persons",
    "immigrations": "persons",
}


def projection_dataset(
    initial: np.ndarray,
    populations: np.ndarray,
    flows: Flows,
    jump_off: int,
    batch_dims: tuple[str, ...] = (),
) -> xr.Dataset:
    """Label a projection from `jump_off` (1 January stock `initial`, (*batch, 2, A)).

    populations: (years, *batch, 2, A) at the end of each event year; flows as returned by `project`.
    """
    populations = np.asarray(populations)
    populations = np.concatenate([np.broadcast_to(initial, populations.shape[1:])[None], populations])
    horizon = populations.shape[0] - 1
    coords = {"sex": list(SEXES), "age": KERNEL_AGES}
    stock_years = np.arange(jump_off, jump_off + horizon + 1)
    event_years = stock_years[:-1]
    data = {
        "population": xr.DataArray(
            populations,
            dims=("year", *batch_dims, "sex", "age"),
            coords={"year": stock_years, **coords},
            attrs={"units": "persons", "reference": "1 January"},
        )
    }
    for name, units in FLOW_UNITS.items():
        values = np.asarray(getattr(flows, name))
        dims = ("event_year", *batch_dims, "sex", "age")[: values.ndim]
        data[name] = xr.DataArray(
            values,
            dims=dims,
            coords={"event_year": event_years, **{d: coords[d] for d in dims if d in coords}},
            attrs={"units": units, "age": "age at end of year"},
        )
    return xr.Dataset(data, attrs={"jump_off": jump_off})


def paths_dataset(outputs: dict[str, np.ndarray], draws: np.ndarray, jump_off: int) -> xr.Dataset:
    """Label the outputs of `simulation.simulate_paths` for paths `draws` projected from 1 January
    `jump_off`: arrays with horizon + 1 steps are by stock `year`, with horizon steps by `event_year`; the
    next dims are draw, sex, age."""
    horizon = outputs["births"].shape[0]
    stock_years = np.arange(jump_off, jump_off + horizon + 1)
    units = {"population": "persons", **{f"{name}_by_sex": unit for name, unit in FLOW_UNITS.items()}}
    variables = {}
    for name, values in outputs.items():
        values = np.asarray(values)
        time = "year" if values.shape[0] == horizon + 1 else "event_year"
        attrs = {"units": units[name]} if name in units else {}
        variables[name] = ((time, "draw", "sex", "age")[: values.ndim], values, attrs)
    coords = {
        "year": stock_years,
        "event_year": stock_years[:-1],
        "draw": draws,
        "sex": list(SEXES),
        "age": KERNEL_AGES,
    }
    return xr.Dataset(variables, coords=coords, attrs={"jump_off": jump_off})
