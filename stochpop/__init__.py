"""stochpop: stochastic cohort-component population projection.

The library does what the `stochpop` command does (`stochpop.run.steps`):

    import stochpop
    spec = stochpop.load_spec("models/demo.toml")
    run = stochpop.fit(spec, "out/demo")     # a RunDirectory: spec.json, posteriors/, fits.json
    stochpop.project(run)                    # paths.zarr
    stochpop.summarise(run)                  # tables/ (refused if a stored chunk is damaged)
    stochpop.plot(run)                       # figures/

On import, stochpop exposes every CPU core as a JAX host device (`jax_num_cpu_devices`) so MCMC chains and
path chunks can run in parallel on a CPU-only machine. It leaves JAX alone if the caller set the XLA flag
`--xla_force_host_platform_device_count` or has already run a JAX computation (then the device count is
fixed). It also silences ArviZ's notice, on import, of its coming refactor (a FutureWarning about ArviZ,
not about anything stochpop calls).
"""

import os
import warnings

import jax

warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor", category=FutureWarning)

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    try:
        jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except RuntimeError:  # JAX's backend is already initialised
        pass

from stochpop.backtest.evaluate import External  # noqa: E402
from stochpop.components.registry import component_from_posterior  # noqa: E402
from stochpop.data.container import CountryData  # noqa: E402
from stochpop.data.errors import DataError  # noqa: E402
from stochpop.results.integrity import IntegrityError, StoreError  # noqa: E402
from stochpop.results.store import ChunkDamage, open_results  # noqa: E402
from stochpop.run.directory import RunDirectory  # noqa: E402
from stochpop.run.inputs import build_components, load_data  # noqa: E402
from stochpop.run.lock import RunLockedError  # noqa: E402
from stochpop.run.spec import Spec, SpecError, load_spec, parse_spec, with_values  # noqa: E402
from stochpop.run.steps import (  # noqa: E402
    alternatives,
    backtest,
    fit,
    headline,
    path_projection,
    plot,
    project,
    project_and_summarise,
    run_all,
    summarise,
    verify,
)

__version__ = "0.1.0"

__all__ = [
    "ChunkDamage",
    "CountryData",
    "DataError",
    "External",
    "IntegrityError",
    "RunDirectory",
    "RunLockedError",
    "Spec",
    "SpecError",
    "StoreError",
    "alternatives",
    "backtest",
    "build_components",
    "component_from_posterior",
    "fit",
    "headline",
    "load_data",
    "load_spec",
    "open_results",
    "parse_spec",
    "path_projection",
    "plot",
    "project",
    "project_and_summarise",
    "run_all",
    "summarise",
    "verify",
    "with_values",
]
