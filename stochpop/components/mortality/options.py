"""A mortality component's options as stored with its fit (`posterior.attrs`), in types whose JSON reads
back equal."""

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any


def fit_attrs(component: Any) -> dict[str, str]:
    """Posterior attributes naming a component (a frozen dataclass), its class and its options (JSON), from
    which `stochpop.components.registry.component_from_posterior` rebuilds it."""
    return {
        "component": component.name,
        "model": type(component).__name__,
        "options": json.dumps(asdict(component)),
    }


def cast_options(component: Any, types: Mapping[str, type]) -> None:
    """Cast the named options of a frozen dataclass in place to plain Python types (None stays None), e.g.
    a NumPy integer year to int, so they are JSON-serialisable and a rebuilt component compares equal."""
    for name, kind in types.items():
        value = getattr(component, name)
        if value is not None:
            object.__setattr__(component, name, kind(value))
