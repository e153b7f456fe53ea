"""stochpop: stochastic cohort-component population projection.

On import, before JAX starts, stochpop exposes every CPU core as a JAX host device (XLA flag
`--xla_force_host_platform_device_count`) so MCMC chains and path chunks can run in parallel on a CPU-only
machine. It does nothing if JAX was imported first or the flag is already set.
"""

import os
import sys

__version__ = "0.1.0"

if "jax" not in sys.modules and "xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (
        f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={os.cpu_count() or 1}"
    ).strip()
