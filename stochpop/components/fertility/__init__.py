"""The fertility component family, in the order the data flow through it:

* `schedule`: the parametric ASFR, TFR times a Lee-Carter age schedule with log-linear tails;
* `inputs`: births and female exposure of the fit period, and the model's fixed inputs from them;
* `model`: the NumPyro model (processes, priors, gauge; its docstring states the model);
* `long_run`: the prior of the long-run TFR learnt across countries from WPP (phase III, as bayesTFR);
* `forecast`: log TFR and kappa paths, the component's drivers and one year's values from them;
* `simulate`: data simulated from known parameters (recovery tests);
* `component`: `FertilityModel`, the component (`stochpop.components.contract`).
"""

from stochpop.components.fertility.component import FertilityModel
from stochpop.components.fertility.forecast import fertility_values
from stochpop.components.fertility.schedule import log_schedule, with_tails
from stochpop.components.fertility.simulate import FertilityParams

__all__ = ["FertilityModel", "FertilityParams", "fertility_values", "log_schedule", "with_tails"]
