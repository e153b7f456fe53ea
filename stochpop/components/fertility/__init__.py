"""The fertility component family, in the order the data flow through it:

* `schedule`: the parametric ASFR, TFR times a Lee-Carter age schedule with log-linear tails;
* `inputs`: births and female exposure of the fit period, and the model's fixed inputs from them;
* `model`: the NumPyro model (processes, priors, gauge; its docstring states the model);
* `forecast`: log TFR and kappa paths, the component's drivers and one year's values from them;
* `simulate`: data simulated from known parameters (recovery tests);
* `component`: `FertilityModel`, the component (`stochpop.components.contract`).
"""

from stochpop.components.fertility.component import FertilityModel
from stochpop.components.fertility.forecast import (
    StateDraws,
    fertility_drivers,
    fertility_values,
    forecast_dataset,
    project_states,
    state_paths,
)
from stochpop.components.fertility.inputs import (
    TAIL_MIN_BIRTHS,
    ModelInputs,
    ages_with_births,
    inputs_as_constant_data,
    inputs_from_constant_data,
    model_inputs,
    observations,
)
from stochpop.components.fertility.model import (
    LATENTS,
    LONG_RUN_LOG_SD,
    LONG_RUN_TFR,
    SCALARS,
    SHOCK_DF,
    TIMING_SHOCK_PRIOR,
    add_timing_shock_scale,
    ar2_coefficients,
    ar2_log_prob,
    ar2_stationary_sd,
    damped_trend_log_prob,
    fertility_model,
    gauge_log_prob,
    shock_sd,
    timing_shock_scale,
)
from stochpop.components.fertility.schedule import asfr_from, log_schedule, with_tails
from stochpop.components.fertility.simulate import FertilityParams, simulate_history, with_simulated_asfr

__all__ = [
    "LATENTS",
    "LONG_RUN_LOG_SD",
    "LONG_RUN_TFR",
    "SCALARS",
    "SHOCK_DF",
    "TAIL_MIN_BIRTHS",
    "TIMING_SHOCK_PRIOR",
    "FertilityModel",
    "FertilityParams",
    "ModelInputs",
    "StateDraws",
    "add_timing_shock_scale",
    "ages_with_births",
    "ar2_coefficients",
    "ar2_log_prob",
    "ar2_stationary_sd",
    "asfr_from",
    "damped_trend_log_prob",
    "fertility_drivers",
    "fertility_model",
    "fertility_values",
    "forecast_dataset",
    "gauge_log_prob",
    "inputs_as_constant_data",
    "inputs_from_constant_data",
    "log_schedule",
    "model_inputs",
    "observations",
    "project_states",
    "shock_sd",
    "simulate_history",
    "state_paths",
    "timing_shock_scale",
    "with_simulated_asfr",
    "with_tails",
]
