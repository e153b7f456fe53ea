"""Benchmark regions with full internal migration (issue #15): PATHS paths x REGIONS regions to 2050.

Regional kernel: the state (path, region, sex, age), 26 years from 1 January 2024 (to 2050), float32,
through `kernel.project` (one `lax.scan` over years per chunk of paths). Each path-year's rates are built
inside the scan, as the sampled paths do, from a few national numbers per path and year (a Lee-Carter
index, a TFR, net migration) and fixed regional inputs:

* fertility and mortality: the national schedule times a fixed factor per region (lognormal, sd 0.08 and
  0.06);
* international net migration: the national count shared among the regions by (region, sex, age) shares
  (about the regions' size to the power 1.1);
* internal migration (`Transfers`): out-rates per path, region, sex and age (path, R, 2, A): an age profile
  (2-3% for children, 9% at 20-25, 1.5% at 60; nobody moves above 69) times a regional level (lognormal, sd
  0.3) times a path's own level per region (sd 0.1); destination shares (R, R, 2, A) shared by the paths:
  gravity (size^w(age) exp(-distance / 300 km) between random places, young adults drawn more to large
  regions), zero diagonal.

Regions differ in size like Norway's 108 projection regions (shares ~ rank^-0.9) and in age structure.
Each year keeps what a regional run stores: the population (path, region, sex, age) and the flows by
region and sex. The same paths run through the national kernel (state (path, sex, age), the same national
numbers) in the same sitting, for the cost per path-year of each. `regional_paths_*` times the full
`regions.paths.regional_paths` (regional rates from the national ones, destinations by origin and
destination each year as the regional model gives them (here the gravity shares' mean over sex and age),
the kernel, the adjustment to the national path each year) on the same inputs.

Timing: paths in chunks of `--chunk` (one compiled call each), warm (every worker has run one chunk), the
kernel only (inputs are made beforehand). In this process (JAX free to use every core) and on Dask
LocalClusters of 1 and 2 single-core workers (`stochpop.run.cluster.dask_client`), 1 and 2 workers
alternating `--repeat` times; the 2-worker speedup is the median ratio of wall times, and
`cpu_efficiency_2_workers` the ratio of the CPU seconds the workers spent on the same paths (1.0: two
workers do not slow each other, so two free cores give 2x; the wall ratio also depends on what other jobs
leave of the cores, recorded as the load average). Peak memory: each process's peak resident set (VmHWM).
Goal (#15): 1 000 paths x 100 regions to 2050 in under 60 s on 2 cores, 2 workers >= 1.7x one.

    python experiments/bench_regions.py --json
"""

import argparse
import json
import os
import statistics
import time
from functools import cache
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from stochpop.conventions import N_AGES
from stochpop.projection.kernel import Rates, Transfers, project
from stochpop.regions.paths import RegionalLevels, RegionalSchedules, regional_paths
from stochpop.run.cluster import dask_client

AGES = np.arange(N_AGES)
JUMP_OFF, END = 2024, 2050


def bump(centre: float, spread: float, ages: np.ndarray = AGES) -> np.ndarray:
    shape = np.exp(-0.5 * ((ages - centre) / spread) ** 2)
    return shape / shape.sum()


@cache
def setting(regions: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Fixed national schedules and regional inputs (module docstring), float32."""
    rng = np.random.default_rng(seed)
    a = np.log(np.stack([2e-5 * np.exp(0.095 * AGES), 3.5e-5 * np.exp(0.093 * AGES)]) + 5e-4 * (AGES == 0))
    size = 1.0 / np.arange(1, regions + 1) ** 0.9
    size /= size.sum()
    older = rng.normal(0.0, 0.3, regions) - 0.3 * np.log(size / size.mean()) / 3.0  # small regions older
    base = 35_000 * np.exp(-((AGES / 85.0) ** 4))
    structure = np.exp(older[:, None] * (AGES - 40) / 40.0)
    start = 2.7e6 * size[:, None] * structure / (structure * base).sum(-1, keepdims=True) * base
    share = size**1.1
    place = rng.uniform(0.0, 1000.0, size=(regions, 2))  # km
    distance = np.linalg.norm(place[:, None] - place[None], axis=-1)
    young = bump(23.0, 4.0) / bump(23.0, 4.0).max()
    pull = size[None, :, None, None] ** (0.6 + 0.6 * young)[None, None, None, :]  # (1, R_to, 1, A)
    sex_pull = np.array([1.05, 0.95])[None, None, :, None]
    destination = np.exp(-distance / 300.0)[:, :, None, None] * pull * sex_pull
    destination *= (1.0 - np.eye(regions))[:, :, None, None]
    profile = 0.025 * np.exp(-AGES / 15.0) + 0.09 * young + 0.015 * np.exp(-(((AGES - 30) / 25.0) ** 2))
    return {
        "a": a,
        "b": np.full((2, N_AGES), 1.0 / N_AGES),
        "fert": bump(31.0, 5.5, np.arange(15, 50)),
        "mig": np.where(AGES <= 69, bump(27.0, 9.0), 0.0)[None].repeat(2, 0) / 2.0,
        "fertility_factor": np.exp(rng.normal(0.0, 0.08, regions)),
        "mortality_factor": np.exp(rng.normal(0.0, 0.06, regions)),
        "start": np.stack([start, start], axis=1),  # (R, 2, A)
        "share": np.broadcast_to((share / share.sum())[:, None, None], (regions, 2, N_AGES)),
        "destination": destination / destination.sum(1, keepdims=True),  # (R, R, 2, A)
        "out_profile": profile[None, None, :] * np.exp(rng.normal(0.0, 0.3, (regions, 1, 1))),
    }


def chunk_inputs(regions: int, years: int, start: int, stop: int) -> dict[str, np.ndarray]:
    """Paths start..stop-1: national drivers (year, path) and out-rates (path, R, 2, A), from the paths'
    own seed (the same whatever the chunking or worker), float32."""
    paths = stop - start
    rng = np.random.default_rng([1, start, stop])
    k = np.cumsum(rng.normal(-1.5, 1.0, size=(years, paths)), axis=0)
    tfr = np.clip(1.45 + 0.05 * np.cumsum(rng.normal(0, 1, size=(years, paths)), axis=0), 0.8, 3.0)
    net = 30_000 + 8_000 * rng.standard_normal((years, paths))
    level = np.exp(rng.normal(0.0, 0.1, size=(paths, regions, 1, 1)))
    out_rate = setting(regions)["out_profile"][None] * level
    arrays = {
        "k": k,
        "tfr": tfr,
        "net": net,
        "out_rate": np.broadcast_to(out_rate, (paths, regions, 2, N_AGES)),
    }
    return {name: np.asarray(value, np.float32) for name, value in arrays.items()}


def national_rates(s: dict[str, Any], x: dict[str, jax.Array]) -> Rates:
    """One year's national rates (path, ...) from the drivers x (path,)."""
    return Rates(
        fertility=x["tfr"][..., None] * s["fert"],
        mortality=jnp.exp(s["a"] + s["b"] * x["k"][..., None, None]),
        net_migration=x["net"][..., None, None] * s["mig"],
    )


@cache
def programs(regions: int) -> dict[str, Any]:
    """The compiled chunk programs (one per process): regional and national kernels, regional_paths."""
    s = {name: jnp.asarray(value, jnp.float32) for name, value in setting(regions).items()}

    @jax.jit
    def regional(population: jax.Array, drivers: dict[str, jax.Array], out_rate: jax.Array) -> Any:
        def rates_fn(x: dict[str, jax.Array]) -> Rates:
            national = national_rates(s, x)
            return Rates(
                fertility=national.fertility[..., None, :] * s["fertility_factor"][:, None],
                mortality=national.mortality[..., None, :, :] * s["mortality_factor"][:, None, None],
                net_migration=national.net_migration[..., None, :, :] * s["share"],
                transfers=Transfers(out_rate=out_rate, destination=s["destination"]),
            )

        return project(population, drivers, rates_fn=rates_fn)

    @jax.jit
    def national(population: jax.Array, drivers: dict[str, jax.Array]) -> Any:
        return project(population, drivers, rates_fn=lambda x: national_rates(s, x))

    @jax.jit
    def adjusted(drivers: dict[str, jax.Array], out_rate: jax.Array) -> Any:
        paths = out_rate.shape[0]
        rates = jax.vmap(lambda x: national_rates(s, x))(drivers)
        start = jnp.broadcast_to(s["start"].sum(0), (paths, 2, N_AGES))
        population = project(start, rates)[0]
        years = drivers["k"].shape[0]
        level = jnp.ones((years, 1, regions))
        destination = s["destination"].mean((-2, -1), keepdims=True)  # (R, R, 1, 1): by origin-destination
        levels = RegionalLevels(
            jnp.broadcast_to(s["fertility_factor"], level.shape),
            jnp.broadcast_to(s["mortality_factor"], level.shape),
            level,
            level,
            jnp.broadcast_to(destination, (years, 1, *destination.shape)),
        )
        schedules = RegionalSchedules(out_rate, s["share"])
        return regional_paths(s["start"], rates, population, levels, schedules)

    return {"regional": regional, "national": national, "adjusted": adjusted, "start": s["start"]}


def run_chunk(kind: str, regions: int, years: int, start: int, stop: int) -> dict[str, float]:
    """Paths start..stop-1 through one program (`programs`); wall and CPU seconds of this process (inputs
    excluded) and checks: the smallest population cell, internal moves' largest imbalance over regions
    relative to the moves, the moves per path-year."""
    inputs = {name: jnp.asarray(value) for name, value in chunk_inputs(regions, years, start, stop).items()}
    drivers = {name: inputs[name] for name in ("k", "tfr", "net")}
    program = programs(regions)
    began, cpu = time.perf_counter(), time.process_time()
    if kind == "regional":
        population = jnp.broadcast_to(program["start"], (stop - start, *program["start"].shape))
        out = jax.block_until_ready(program["regional"](population, drivers, inputs["out_rate"]))
    elif kind == "national":
        population = jnp.broadcast_to(program["start"].sum(0), (stop - start, 2, N_AGES))
        out = jax.block_until_ready(program["national"](population, drivers))
    else:
        out = jax.block_until_ready(program["adjusted"](drivers, inputs["out_rate"]))
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu
    populations, flows = (out.population, out.flows) if kind == "adjusted" else out
    checks = {"seconds": seconds, "cpu_seconds": cpu_seconds, "min_population": float(populations.min())}
    if kind != "national":
        moved_in, moved_out = flows.transfers_in.sum(-2), flows.transfers_out.sum(-2)
        checks["internal_imbalance"] = float(jnp.max(jnp.abs(moved_in - moved_out)) / jnp.max(moved_out))
        checks["moved_per_year"] = float(moved_out.sum() / (stop - start) / years)
    return checks


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM; ru_maxrss would carry the parent's over fork and exec)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(float(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024.0


def chunks(paths: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk, paths)) for start in range(0, paths, chunk)]


def in_process(kind: str, args: argparse.Namespace) -> float:
    """Wall seconds for every chunk in this process, after a warm-up chunk."""
    years = END - JUMP_OFF
    run_chunk(kind, args.regions, years, 0, args.chunk)
    began = time.perf_counter()
    for start, stop in chunks(args.paths, args.chunk):
        run_chunk(kind, args.regions, years, start, stop)
    return time.perf_counter() - began


def on_workers(client: Any, kind: str, args: argparse.Namespace) -> tuple[float, list[dict[str, float]]]:
    """Wall seconds for every chunk on the client's workers (warmed: one chunk each first)."""
    import bench_regions  # submitted by reference, so workers import it (their sys.path is this one's)

    years = END - JUMP_OFF
    workers = list(client.scheduler_info()["workers"])
    warm = [
        client.submit(
            bench_regions.run_chunk, kind, args.regions, years, 0, args.chunk, pure=False, workers=[w]
        )
        for w in workers
    ]
    client.gather(warm)
    began = time.perf_counter()
    futures = [
        client.submit(bench_regions.run_chunk, kind, args.regions, years, start, stop, pure=False)
        for start, stop in chunks(args.paths, args.chunk)
    ]
    results = client.gather(futures)
    return time.perf_counter() - began, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--regions", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=100, help="paths per kernel call")
    parser.add_argument("--repeat", type=int, default=2, help="runs of 1 and 2 workers, alternating")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    years = END - JUMP_OFF
    path_years = args.paths * years
    result: dict[str, Any] = {
        "paths": args.paths,
        "regions": args.regions,
        "years": f"{JUMP_OFF}-{END}",
        "chunk": args.chunk,
        "dtype": "float32",
        "load_average_1min_at_start": os.getloadavg()[0],
    }
    seconds = {kind: in_process(kind, args) for kind in ("regional", "national", "adjusted")}
    for kind, value in seconds.items():
        result[f"in_process_{kind}_s"] = round(value, 2)
        result[f"in_process_{kind}_path_years_per_s"] = round(path_years / value)
    result["in_process_regional_over_national_per_path_year"] = round(
        seconds["regional"] / seconds["national"], 1
    )
    result["in_process_peak_rss_mb"] = round(peak_rss_mb())

    runs: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    national_runs: dict[int, list[float]] = {1: [], 2: []}
    checks: list[dict[str, float]] = []
    with dask_client(1) as one, dask_client(2) as two:
        clients = {1: one, 2: two}
        for _ in range(args.repeat):
            for workers, client in clients.items():
                wall, outcome = on_workers(client, "regional", args)
                runs[workers].append(round(wall, 2))
                cpu[workers].append(round(sum(c["cpu_seconds"] for c in outcome), 2))
                checks += outcome
                national_runs[workers].append(round(on_workers(client, "national", args)[0], 2))
        for workers, client in clients.items():
            result[f"regional_{workers}_workers_runs_s"] = runs[workers]
            result[f"regional_{workers}_workers_runs_cpu_s"] = cpu[workers]
            result[f"national_{workers}_workers_runs_s"] = national_runs[workers]
            result[f"regional_{workers}_workers_s"] = min(runs[workers])
            result[f"regional_path_years_per_s_{workers}_workers"] = round(path_years / min(runs[workers]))
            result[f"national_path_years_per_s_{workers}_workers"] = round(
                path_years / min(national_runs[workers])
            )
            result[f"worker_peak_rss_mb_{workers}_workers"] = [
                round(v) for v in client.run(peak_rss_mb).values()
            ]
    ratios = [r1 / r2 for r1, r2 in zip(runs[1], runs[2], strict=True)]
    result["speedup_2_workers"] = round(statistics.median(ratios), 2)
    result["speedup_2_workers_runs"] = [round(r, 2) for r in ratios]
    # CPU seconds for the same work with 1 and 2 workers: 1.0 when the workers do not slow each other (what
    # 2 free cores turn into a 2x speedup); the wall speedup also depends on the cores other jobs leave.
    result["cpu_efficiency_2_workers"] = round(statistics.median(cpu[1]) / statistics.median(cpu[2]), 2)
    result["regional_over_national_per_path_year_1_worker"] = round(min(runs[1]) / min(national_runs[1]), 1)
    result["regional_us_per_path_year_1_worker"] = round(1e6 * min(runs[1]) / path_years, 1)
    result["national_us_per_path_year_1_worker"] = round(1e6 * min(national_runs[1]) / path_years, 2)
    result["min_population"] = min(c["min_population"] for c in checks)
    result["internal_imbalance_max"] = max(c["internal_imbalance"] for c in checks)
    result["internal_moves_per_path_year"] = round(statistics.mean(c["moved_per_year"] for c in checks))
    result["load_average_1min_at_end"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:50s} {value}")


if __name__ == "__main__":
    main()
