"""A persistent JAX compilation cache shared by stochpop's processes (the `stochpop` command, its Dask
workers, back-test jump-offs): a program compiled once, such as a chunk of paths (several seconds in each
new worker), is read from disk by later processes and runs.

Directory: $STOCHPOP_JAX_CACHE if set (set but empty: no cache), else $XDG_CACHE_HOME/stochpop/jax, else
~/.cache/stochpop/jax. Nothing is evicted (every run of this project's experiments, back-tests included,
left 43 MB); deleting the directory is always safe.
"""

import os
import warnings
from pathlib import Path

import jax

MIN_COMPILE_SECONDS = 0.0
"""Every program is cached: a chunk's first call also compiles dozens of small ones (shocks, draws), which
together cost seconds (a demo chunk's first call: 5.5 s uncached, 2.1 s caching only those over 0.1 s,
1.7 s caching all)."""


def cache_directory() -> Path | None:
    """Where compiled programs are kept, or None if caching is switched off."""
    if "STOCHPOP_JAX_CACHE" in os.environ:
        return Path(os.environ["STOCHPOP_JAX_CACHE"]) if os.environ["STOCHPOP_JAX_CACHE"] else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stochpop" / "jax"


def enable_compilation_cache() -> Path | None:
    """Point this process's JAX at `cache_directory()` (created); returns it (None: caching is off, or the
    directory cannot be created, which is warned about: the cache only saves time)."""
    directory = cache_directory()
    if directory is None:
        return None
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"no JAX compilation cache ({error}); set $STOCHPOP_JAX_CACHE to a writable directory"
        warnings.warn(message, stacklevel=2)
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
