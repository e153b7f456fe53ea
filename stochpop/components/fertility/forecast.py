"""Fertility forecasts: log TFR and kappa paths (`project_states`, `state_paths`), the component's drivers
from a fit (`fertility_drivers`), one year's values from them (`fertility_values`) and the labelled
forecast (`forecast_dataset`)."""

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from stochpop.components.contract import Drivers, FertilityValues
from stochpop.components.fertility.model import SCALARS, SHOCK_DF, ar2_coefficients
from stochpop.components.fertility.schedule import asfr_from
from stochpop.components.fitting import constant_values
from stochpop.components.randomness import Paths, path_indices, path_keys, path_shocks, posterior_draws
from stochpop.demography.lifetable import mean_age_at_birth

Array = jax.Array


class StateDraws(NamedTuple):
    """What `project_states` needs, one value per draw (D,): parameters and the last fitted states."""

    log_tfr_mean: Array
    tfr_pacf1: Array
    tfr_pacf2: Array
    tfr_shock_scale: Array
    age_drift: Array
    age_shock_scale: Array
    age_damping: Array
    log_tfr_last: Array
    """(D, 2) log TFR of the last two fitted years."""
    kappa_last: Array
    """(D, 2) timing index of the last two fitted years."""


def project_states(keys: Array, s: StateDraws, horizon: int) -> tuple[Array, Array]:
    """Simulate log TFR and kappa for `horizon` years after the fit period: (D, horizon) each.

    One `jax.lax.scan` over years, every draw at once; shocks from each path's key (keys (D,),
    `stochpop.components.randomness.path_shocks`): Student-t(4) for log TFR (stream 1), normal for the
    timing increments (stream 2); the drift decays by `age_damping` each year.
    """
    e_tfr = path_shocks(keys, 1, (horizon,), SHOCK_DF).T
    e_age = path_shocks(keys, 2, (horizon,)).T
    phi1, phi2 = ar2_coefficients(s.tfr_pacf1, s.tfr_pacf2)
    z = s.log_tfr_last - s.log_tfr_mean[:, None]

    State = tuple[Array, Array, Array, Array]  # z_{t-1}, z_t, kappa_t, drift_t

    def step(carry: State, shocks: tuple[Array, Array]) -> tuple[State, Array]:
        z_prev, z_last, kappa, drift = carry
        e_f, e_a = shocks
        z_new = phi1 * z_last + phi2 * z_prev + s.tfr_shock_scale * e_f
        drift = drift * s.age_damping
        kappa = kappa + drift + s.age_shock_scale * e_a
        return (z_last, z_new, kappa, drift), jnp.stack([z_new, kappa])

    init = (z[:, 0], z[:, 1], s.kappa_last[:, 1], s.age_drift)
    _, path = jax.lax.scan(step, init, (e_tfr, e_age))
    return s.log_tfr_mean[:, None] + path[:, 0].T, path[:, 1].T


@partial(jax.jit, static_argnames="horizon")
def state_paths(
    keys: Array, s: StateDraws, fitted: tuple[Array, Array], index: Array, horizon: int
) -> tuple[Array, Array]:
    """Log TFR and kappa (D, Y) at positions `index` of the fitted years followed by `horizon` simulated ones
    (`project_states`); `fitted` holds the posterior log TFR and kappa (D, T)."""
    log_tfr, kappa = project_states(keys, s, horizon)
    log_tfr = jnp.concatenate([fitted[0], log_tfr], axis=1)[:, index]
    kappa = jnp.concatenate([fitted[1], kappa], axis=1)[:, index]
    return log_tfr, kappa


def jump_off_log_residual(
    idata: az.InferenceData, log_tfr: Array, alpha: Array, beta: Array, kappa: Array
) -> Array:
    """Observed minus fitted log ASFR in the last fitted year (draw, age), 0 at ages without births; the
    fitted log TFR and kappa of that year (draw,), alpha and beta (draw, age)."""
    births = constant_values(idata, "births")[-1]
    exposure = constant_values(idata, "exposure")[-1]
    fitted = jnp.log(asfr_from(log_tfr[:, None], alpha, beta, kappa[:, None])[:, 0])
    with np.errstate(divide="ignore"):
        observed = np.log(births / exposure)
    return jnp.where(births > 0, observed - fitted, 0.0)


def fertility_drivers(
    idata: az.InferenceData, years: Sequence[int], paths: Paths, key: Array, observed_jump_off: bool = False
) -> Drivers:
    """Paths for `years` (any years from the fit period's first on; fitted values inside the fit period),
    path i drawn from fold_in(key, i) alone (`stochpop.components.randomness.path_keys`): parameter
    uncertainty (posterior draws) and process uncertainty (simulated shocks); the cell-level extra-Poisson
    noise of the likelihood is not added. fixed: alpha, beta (draw, age) and the fitted ages (age,);
    series: log_tfr and kappa (draw, year); all float32. With `observed_jump_off`, fixed also holds the
    last fitted year's log residual (`jump_off_log_residual`, draw, age) and series a weight (draw, year),
    1 in forecast years and 0 in fitted ones: forecast ASFR are multiplied by exp(residual), so they
    continue from the observed age pattern of the jump-off year (as Lee & Miller 2001 do for mortality)."""
    wanted = np.asarray(years, dtype=int)
    fit_years = idata["posterior"]["year"].values
    if wanted.size == 0 or wanted.min() < fit_years[0]:
        raise ValueError(f"forecast years must be {fit_years[0]} or later")
    keys = path_keys(key, paths)
    p = posterior_draws(idata, keys, [*SCALARS, "age_shock_scale", "log_tfr", "kappa", "alpha", "beta"])
    f32 = lambda v: jnp.asarray(v, dtype=jnp.float32)  # noqa: E731
    s = StateDraws(
        **{name: f32(p[name]) for name in StateDraws._fields if name in (*SCALARS, "age_shock_scale")},
        log_tfr_last=f32(p["log_tfr"][:, -2:]),
        kappa_last=f32(p["kappa"][:, -2:]),
    )
    log_tfr, kappa = state_paths(
        keys,
        s,
        (f32(p["log_tfr"]), f32(p["kappa"])),
        jnp.asarray(wanted - fit_years[0]),
        horizon=int(max(wanted.max() - fit_years[-1], 0)),
    )
    fixed = {"alpha": f32(p["alpha"]), "beta": f32(p["beta"]), "ages": f32(idata["posterior"]["age"].values)}
    series = {"log_tfr": log_tfr, "kappa": kappa}
    if observed_jump_off:
        fixed["jump_off_residual"] = f32(
            jump_off_log_residual(
                idata, s.log_tfr_last[:, 1], fixed["alpha"], fixed["beta"], s.kappa_last[:, 1]
            )
        )
        series["jump_off_weight"] = jnp.broadcast_to(f32(wanted > fit_years[-1]), log_tfr.shape)
    return Drivers(fixed, series)


def fertility_values(fixed: dict[str, Array], step: dict[str, Array]) -> FertilityValues:
    """One year's ASFR (draw, age) by completed age in births per woman-year, TFR (draw,) in births per
    woman and mean age at birth (draw,) in years, from `fertility_drivers`' fixed and one year of its
    series (draw,)."""
    asfr = asfr_from(step["log_tfr"][..., None], fixed["alpha"], fixed["beta"], step["kappa"][..., None])
    asfr = asfr[..., 0, :]
    if "jump_off_residual" in fixed:
        asfr = asfr * jnp.exp(step["jump_off_weight"][..., None] * fixed["jump_off_residual"])
    return FertilityValues(
        fertility=asfr, tfr=asfr.sum(-1), mean_age=mean_age_at_birth(asfr, fixed["ages"], xp=jnp)
    )


def forecast_dataset(
    values: FertilityValues, paths: Paths, years: Sequence[int], ages: np.ndarray, component: str
) -> xr.Dataset:
    """`values` of every year (draw, year, ...) labelled: fertility (draw, year, age), tfr and mean_age
    (draw, year); `draw` holds the path indices."""
    return xr.Dataset(
        {
            "fertility": (("draw", "year", "age"), np.asarray(values.fertility)),
            "tfr": (("draw", "year"), np.asarray(values.tfr)),
            "mean_age": (("draw", "year"), np.asarray(values.mean_age)),
        },
        coords={"draw": path_indices(paths), "year": np.asarray(years), "age": ages},
        attrs={
            "component": component,
            "fertility": "births per woman-year by mother's age in completed years",
            "tfr": "births per woman",
            "mean_age": "years",
        },
    )
