"""Every component family by class name, and a component rebuilt from the posterior it was fitted into."""

import json

import arviz as az

from stochpop.components.contract import Component
from stochpop.components.fertility import FertilityModel
from stochpop.components.migration import GrossMigrationModel, NetMigrationModel
from stochpop.components.mortality import CoherentLeeCarter, LeeCarter

COMPONENT_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (CoherentLeeCarter, LeeCarter, FertilityModel, NetMigrationModel, GrossMigrationModel)
}
"""The component classes a fit may name in `posterior.attrs["model"]`."""


def component_from_posterior(idata: az.InferenceData) -> Component:
    """The component that made the fit `idata`, rebuilt from the class name and options stored in its
    posterior attributes (ValueError if they are missing or name no known class)."""
    attrs = idata["posterior"].attrs
    if "model" not in attrs or "options" not in attrs:
        raise ValueError(
            "posterior: no 'model' and 'options' attributes (not fitted by a stochpop component)"
        )
    if attrs["model"] not in COMPONENT_CLASSES:
        raise ValueError(
            f"posterior: unknown component class {attrs['model']!r} (expected {sorted(COMPONENT_CLASSES)})"
        )
    return COMPONENT_CLASSES[attrs["model"]](**json.loads(attrs["options"]))
