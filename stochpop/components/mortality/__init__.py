"""Mortality components: the coherent (product-ratio) Bayesian Lee-Carter and the classic Lee-Carter.

`CoherentLeeCarter` is the product-ratio model of Hyndman, Booth & Yasmeen (2013) that SSB uses
(reference ch. 6.1), made Bayesian and fitted to death counts; `LeeCarter` is the classic one-sex model
(each sex on its own, SVD + random walk with drift), the fast SSB-like baseline. Both forecast rates
(draw, year, sex, age 0..119) per person-year and e0 (draw, year, sex) in years; every path takes a
posterior draw and its own future innovations, and rates above age 100 come from the Kannisto model.

The data flow, a module a step:
    window      deaths and exposures of the fitted years and ages 0..100
    parameters  the coherent model's parameters and product-ratio log rates
    reference   Poisson ML reference fit, identification, and the model frame built from them
    indices     the time indices' priors and partially non-centred coordinates
    model       the NumPyro model: priors, likelihood, standardised coordinates (equations here)
    forecast    index paths, Kannisto extension, one year's values, the labelled forecast
    simulate    the data-generating process (recovery tests)
    coherent, lee_carter   the two components
"""

from stochpop.components.mortality.coherent import CoherentLeeCarter
from stochpop.components.mortality.forecast import FORECAST_AGES, kannisto_rates, mortality_values
from stochpop.components.mortality.indices import index_coordinates, index_from_coordinates
from stochpop.components.mortality.lee_carter import LeeCarter
from stochpop.components.mortality.model import DEFAULT_NU, coherent_lee_carter_model, natural_parameters
from stochpop.components.mortality.parameters import LOADING_NODES, PARAM_DIMS, SCALARS, Params, loading_basis
from stochpop.components.mortality.reference import age_weights, frame_from_idata, make_frame, reference_fit
from stochpop.components.mortality.simulate import simulate_deaths
from stochpop.components.mortality.window import DEFAULT_FIRST_YEAR, FIT_MAX_AGE, FitWindow, fit_window

__all__ = [
    "DEFAULT_FIRST_YEAR",
    "DEFAULT_NU",
    "FIT_MAX_AGE",
    "FORECAST_AGES",
    "LOADING_NODES",
    "PARAM_DIMS",
    "SCALARS",
    "CoherentLeeCarter",
    "FitWindow",
    "LeeCarter",
    "Params",
    "age_weights",
    "coherent_lee_carter_model",
    "fit_window",
    "frame_from_idata",
    "index_coordinates",
    "index_from_coordinates",
    "kannisto_rates",
    "loading_basis",
    "make_frame",
    "mortality_values",
    "natural_parameters",
    "reference_fit",
    "simulate_deaths",
]
