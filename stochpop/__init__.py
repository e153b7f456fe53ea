"""stochpop: stochastic cohort-component population projection.

On import, stochpop exposes every CPU core as a JAX host device (`jax_num_cpu_devices`) so MCMC chains and
path chunks can run in parallel on a CPU-only machine. It leaves JAX alone if the caller set the XLA flag
`--xla_force_host_platform_device_count` or has already run a JAX computation (then the device count is
fixed).
"""

import os

import jax

__version__ = "0.1.0"

if "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    try:
        jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)
    except RuntimeError:  # JAX's backend is already initialised
        pass
