"""A persistent JAX compilation cache shared by stochpop's processes (the `stochpop` command, its Dask
workers, back-test jump-offs): a program compiled once, such as a chunk of paths (several seconds in each
new worker), is read from disk by later processes and runs.

Directory: $STOCHPOP_JAX_CACHE if set (set but empty: no cache), else $XDG_CACHE_HOME/stochpop/jax, else
~/.cache/stochpop/jax.
"""

import os
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
    """Point this process's JAX at `cache_directory()` (created); returns it (None: caching is off)."""
    directory = cache_directory()
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(directory))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return directory
