"""Benchmark the cohort-component kernel against the NumPy loop a researcher would write.

National model: 2 sexes x 120 ages, PATHS paths x YEARS years, float32. Three figures in one run:
* `path_years_per_s`: the JAX kernel with full rate arrays as inputs (m, ASFR, net migration per path-year);
* `generated_path_years_per_s`: the same projection with rates generated inside the scan from per-path
  Lee-Carter indices, TFR and migration levels (`rates_fn`), so rate arrays never sit in memory;
* `numpy_reference_path_years_per_s`: a loop over years vectorised over paths in NumPy, rates as inputs
  (best of three runs after a warm-up run).
Both JAX variants return populations by year, sex and age and flows by sex for every path; paths run in
chunks (as Dask tasks will), and the timing covers the kernel only (inputs prepared beforehand).
`two_device_*` repeat both JAX figures with each chunk split over two XLA CPU devices (`shard_map` over
paths; the benchmark sets `--xla_force_host_platform_device_count=2` in XLA_FLAGS before importing jax).

Every call writes a fresh (years, paths, 2, 120) output, and with 4 KiB pages first-touch page faults
are a large share of the time, for JAX and NumPy alike. `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` in the
environment (set before Python starts) makes glibc use transparent huge pages for large buffers, 10-25%
faster here; `malloc_hugepages` in the output records whether it was set.

    python experiments/bench_kernel.py --json
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python experiments/bench_kernel.py --json
"""

import argparse
import json
import os
import time

if __name__ == "__main__":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    ).strip()

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as PS

from stochpop.conventions import N_AGES, SHARE_BOYS
from stochpop.projection.kernel import Rates, project

AGES = np.arange(N_AGES)


def schedules() -> dict[str, np.ndarray]:
    """Plausible fixed age schedules: Lee-Carter a(x), b(x); fertility and migration age shapes."""
    a = np.log(
        np.stack(
            [
                2e-5 * np.exp(0.095 * AGES) + 5e-4 * np.exp(-2 * AGES),
                3.5e-5 * np.exp(0.093 * AGES) + 6e-4 * np.exp(-2 * AGES),
            ]
        )
    )
    b = np.full((2, N_AGES), 1.0 / N_AGES)
    fert_ages = np.arange(15, 50)
    fert_shape = np.exp(-0.5 * ((fert_ages - 31) / 5.5) ** 2)
    mig_shape = np.exp(-0.5 * ((AGES - 27) / 9.0) ** 2)[None].repeat(2, 0) * (AGES <= 69)
    return dict(
        a=a.astype(np.float32),
        b=b.astype(np.float32),
        fert=(fert_shape / fert_shape.sum()).astype(np.float32),
        mig=(mig_shape / mig_shape.sum()).astype(np.float32),
    )


def drivers(rng: np.random.Generator, paths: int, years: int) -> dict[str, np.ndarray]:
    """Per-path, per-year low-dimensional drivers (years, paths)."""
    k = np.cumsum(rng.normal(-1.5, 1.0, size=(years, paths)), axis=0)
    tfr = 1.5 + 0.05 * np.cumsum(rng.normal(0, 1, size=(years, paths)), axis=0)
    net = 30_000 + 8_000 * rng.standard_normal((years, paths))
    return dict(
        k=k.astype(np.float32), tfr=np.clip(tfr, 0.8, 3.0).astype(np.float32), net=net.astype(np.float32)
    )


def full_rates(s: dict[str, np.ndarray], d: dict[str, np.ndarray]) -> Rates:
    """Materialised rate arrays (years, paths, ...): about 2.1 KB per path-year in float32."""
    return Rates(
        fertility=d["tfr"][..., None] * s["fert"],
        mortality=np.exp(s["a"] + s["b"] * d["k"][..., None, None]),
        net_migration=d["net"][..., None, None] * s["mig"],
    )


def rates_fn_for(s: dict[str, np.ndarray]):
    """Rates from per-path drivers (k, tfr, net) inside the scan."""
    a, b, fert, mig = (jnp.asarray(s[n]) for n in ("a", "b", "fert", "mig"))

    def rates_fn(x):
        return Rates(
            fertility=x["tfr"][..., None] * fert,
            mortality=jnp.exp(a + b * x["k"][..., None, None]),
            net_migration=x["net"][..., None, None] * mig,
        )

    return rates_fn


def numpy_projection(pop: np.ndarray, rates: Rates) -> tuple[np.ndarray, np.ndarray]:
    """The NumPy loop over years, vectorised over paths (what a researcher would write)."""
    years = rates.fertility.shape[0]
    populations = np.empty((years, *pop.shape), dtype=pop.dtype)
    flows = np.empty((years, pop.shape[0], 4, 2), dtype=pop.dtype)
    for t in range(years):
        births = (pop[:, 0, 14:49] * rates.fertility[t]).sum(-1)
        newborns = np.stack([(1 - SHARE_BOYS) * births, SHARE_BOYS * births], axis=-1)
        aged = np.concatenate([newborns[..., None], pop[..., :-1]], axis=-1)
        aged[..., -1] += pop[..., -1]
        q = -np.expm1(-rates.mortality[t])
        q[..., 108:] = 0.5
        deaths = q * aged
        net = rates.net_migration[t]
        emigrations = np.minimum(np.maximum(-net, 0), aged - deaths)
        immigrations = np.maximum(net, 0)
        pop = aged - deaths - emigrations + immigrations
        populations[t] = pop
        flows[t] = np.stack([newborns, deaths.sum(-1), emigrations.sum(-1), immigrations.sum(-1)], axis=1)
    return populations, flows


def initial_population(paths: int) -> np.ndarray:
    base = 35_000 * np.exp(-((AGES / 85.0) ** 4))
    return np.broadcast_to(base, (paths, 2, N_AGES)).astype(np.float32).copy()


def timed(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=10_000)
    parser.add_argument("--years", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=2_000, help="paths per kernel call")
    parser.add_argument("--numpy-paths", type=int, default=2_000, help="paths timed for the NumPy loop")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    s = schedules()
    n_chunks = -(-args.paths // args.chunk)
    chunks = [drivers(rng, args.chunk, args.years) for _ in range(n_chunks)]
    pop = jnp.asarray(initial_population(args.chunk))

    kernel = jax.jit(project)
    generated = jax.jit(lambda p, x: project(p, x, rates_fn=rates_fn_for(s)))
    materialised = [jax.tree.map(jnp.asarray, full_rates(s, d)) for d in chunks]
    jax.block_until_ready(kernel(pop, materialised[0]))  # compile
    jax.block_until_ready(generated(pop, chunks[0]))
    t_inputs = sum(timed(kernel, pop, r) for r in materialised)
    del materialised
    t_generated = sum(timed(generated, pop, d) for d in chunks)
    path_years = n_chunks * args.chunk * args.years

    # The same chunks split over two CPU devices along paths (one half per device).
    two_device = len(jax.devices()) >= 2 and args.chunk % 2 == 0
    if two_device:
        mesh = Mesh(np.array(jax.devices()[:2]), ("paths",))

        def split(fn):
            specs = dict(in_specs=(PS("paths"), PS(None, "paths")), out_specs=PS(None, "paths"))
            return jax.jit(jax.shard_map(fn, mesh=mesh, **specs))

        by_paths, by_year_paths = NamedSharding(mesh, PS("paths")), NamedSharding(mesh, PS(None, "paths"))
        kernel2 = split(project)
        generated2 = split(lambda p, x: project(p, x, rates_fn=rates_fn_for(s)))
        pop2 = jax.device_put(pop, by_paths)
        materialised = [jax.device_put(full_rates(s, d), by_year_paths) for d in chunks]
        chunks2 = [jax.device_put(d, by_year_paths) for d in chunks]
        jax.block_until_ready(kernel2(pop2, materialised[0]))  # compile
        jax.block_until_ready(generated2(pop2, chunks2[0]))
        t_inputs2 = sum(timed(kernel2, pop2, r) for r in materialised)
        del materialised
        t_generated2 = sum(timed(generated2, pop2, d) for d in chunks2)

    np_drivers = drivers(rng, args.numpy_paths, args.years)
    np_rates = full_rates(s, np_drivers)
    numpy_projection(initial_population(args.numpy_paths), np_rates)  # warm-up, as JAX gets its compile run
    t_numpy = min(timed(numpy_projection, initial_population(args.numpy_paths), np_rates) for _ in range(3))
    numpy_rate = args.numpy_paths * args.years / t_numpy

    # The two implementations agree on the same inputs (float32 tolerance).
    check_pop = initial_population(args.numpy_paths)
    np_pop, _ = numpy_projection(check_pop, np_rates)
    jax_pop, _ = kernel(jnp.asarray(check_pop), jax.tree.map(jnp.asarray, np_rates))
    max_rel_diff = float(np.max(np.abs(np.asarray(jax_pop) - np_pop) / np.maximum(np_pop, 1.0)))

    result = {
        "paths": n_chunks * args.chunk,
        "years": args.years,
        "chunk": args.chunk,
        "dtype": "float32",
        "devices": [str(d) for d in jax.devices()[:1]],
        "malloc_hugepages": "glibc.malloc.hugetlb=1" in os.environ.get("GLIBC_TUNABLES", ""),
        "path_years_per_s": path_years / t_inputs,
        "generated_path_years_per_s": path_years / t_generated,
        "numpy_reference_path_years_per_s": numpy_rate,
        "speedup_vs_numpy": path_years / t_inputs / numpy_rate,
        "generated_speedup_vs_numpy": path_years / t_generated / numpy_rate,
        "max_relative_difference_jax_vs_numpy": max_rel_diff,
    }
    if two_device:
        result["two_device_path_years_per_s"] = path_years / t_inputs2
        result["two_device_generated_path_years_per_s"] = path_years / t_generated2
        result["two_device_speedup_vs_numpy"] = path_years / t_inputs2 / numpy_rate
        result["two_device_generated_speedup_vs_numpy"] = path_years / t_generated2 / numpy_rate
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:40s} {value:,.3f}" if isinstance(value, float) else f"{key:40s} {value}")


if __name__ == "__main__":
    main()
