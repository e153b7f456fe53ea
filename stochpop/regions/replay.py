"""Replay registered years through the kernel with a region axis: national rates per person at risk for
births, deaths and international moves (`accounts.rates_at_risk`), registered internal moves.

Each year runs `kernel.project_year` on the projected regional stock (region, sex, age), in double
precision. National fertility, death and emigration probabilities apply to every region, so the kernel
allocates these events by population at risk; immigration enters as the national immigrations per person
of the aged stock times the region's projected aged stock (counts, as the kernel takes them). Internal
moves are the registered out-moves of each region as `Transfers`: out-rates are the registered counts over
the projected aged stock (so the out-moves are replayed exactly unless a cell runs empty), their
destinations the IPF shares of `destinations` (in-moves then match the registered ones up to the IPF's
fit). Data ages 0..open are padded to the kernel's 0..119 (rates above the open age repeat its rate) and
summed back into the open age.
"""

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.conventions import N_AGES
from stochpop.demography.ageing import age_one_year
from stochpop.projection.kernel import KernelConfig, Rates, Transfers, births, project_year
from stochpop.projection.rate_sets import pad_to_kernel_ages, to_data_ages
from stochpop.regions.destinations import destination_shares

STATE_DIMS = ("region", "sex", "age")


def data_config(share_boys: float, mother_ages: np.ndarray) -> KernelConfig:
    """Every age migrates and q follows the rates at every age; the data's maternal ages and boys' share."""
    return KernelConfig(
        share_boys=share_boys,
        fertile_ages=(int(mother_ages[0]), int(mother_ages[-1]) + 1),
        q_fixed_from_age=N_AGES,
        migration_max_age=None,
    )


def _year_rates(
    state: np.ndarray, at: xr.Dataset, out_moves: np.ndarray, in_moves: np.ndarray, config: KernelConfig
) -> Rates:
    """The kernel's `Rates` for one year from the projected stock `state` (region, sex, 0..119), national
    rates `at` (one year of `rates_at_risk`) and registered internal moves (region, sex, data ages)."""
    fertility = jnp.asarray(at["fertility"].values)
    aged = np.asarray(age_one_year(state, np.asarray(births(jnp.asarray(state), fertility, config)), np))
    aged_data = to_data_ages(aged, at["age"].size)
    out_rate = np.divide(out_moves, aged_data, out=np.zeros_like(out_moves), where=aged_data > 0)
    shares = destination_shares(np.moveaxis(out_moves, 0, -1), np.moveaxis(in_moves, 0, -1))
    survival = np.maximum(1.0 - at["deaths"].values, np.finfo(float).tiny)  # q = 1 -> m = 745: q = 1
    return Rates(
        fertility=fertility,
        mortality=jnp.asarray(pad_to_kernel_ages(-np.log(survival))),
        emigration=jnp.asarray(pad_to_kernel_ages(at["emigration"].values)),
        immigration=jnp.asarray(pad_to_kernel_ages(at["immigration"].values) * aged),
        transfers=Transfers(
            out_rate=jnp.asarray(pad_to_kernel_ages(out_rate)),
            destination=jnp.asarray(
                pad_to_kernel_ages(np.moveaxis(shares, (-2, -1), (0, 1)))
            ),  # (from, to, sex, age)
        ),
    )


def replay(
    jump_off: xr.DataArray, rates: xr.Dataset, internal_out: xr.DataArray, internal_in: xr.DataArray
) -> xr.Dataset:
    """Project `jump_off` (region, sex, age; persons at the time point before the first year of `rates`)
    through the years of `rates` (`accounts.rates_at_risk`, national or with a region dim but for
    share_boys) with registered internal moves by age at end of
    year (year, region, sex, age). Returns population (year, region, sex, age) at the end of each year and
    the kernel's internal_in and internal_out moves (same dims), on the data's ages."""
    ages = jump_off["age"].values
    state = pad_to_kernel_ages(jump_off.transpose(*STATE_DIMS).values.astype(np.float64))
    state[..., ages.size :] = 0.0
    kept: dict[str, list[np.ndarray]] = {"population": [], "internal_in": [], "internal_out": []}
    with jax.enable_x64(True):
        for year in rates["year"].values:
            at = rates.sel(year=year).transpose(..., "sex", "age")
            if "region" in at.dims:
                at = at.sel(region=jump_off["region"].values)
            config = data_config(float(at["share_boys"]), rates["mother_age"].values)
            year_rates = _year_rates(
                state,
                at,
                internal_out.sel(year=year).transpose(*STATE_DIMS).values,
                internal_in.sel(year=year).transpose(*STATE_DIMS).values,
                config,
            )
            following, flows = project_year(jnp.asarray(state), year_rates, config)
            state = np.asarray(following)
            kept["population"].append(to_data_ages(state, ages.size))
            kept["internal_in"].append(to_data_ages(np.asarray(flows.transfers_in), ages.size))
            kept["internal_out"].append(to_data_ages(np.asarray(flows.transfers_out), ages.size))
    coords = {"year": rates["year"].values, **{dim: jump_off[dim].values for dim in STATE_DIMS}}
    return xr.Dataset(
        {name: (("year", *STATE_DIMS), np.stack(values)) for name, values in kept.items()}, coords=coords
    )
