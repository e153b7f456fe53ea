"""Benchmark the kernel with BEFINN's groups as cells against the ungrouped kernel, in the same run.

Grouped: the rest, immigrants of 3 country groups by duration of stay 0..D (D open; SSB: 0-30, 97 cells)
and the Norwegian-born to two immigrant parents by mother's group (`stochpop.demography.groups`), births
sent by the share with an immigrant father (`Rates.birth_destination`), the duration advance at the end of
each year (`KernelConfig.reclassify`), gross migration. Ungrouped: the national kernel with the same kind
of drivers and gross migration. Rates are generated inside the scan from a few numbers per path and year
(a Lee-Carter index, a fertility factor, an emigration factor, immigration by country group) times fixed
schedules by cell, as the sampled paths do; a full (cell, sex, age) rate array per path-year would be
280 KB. Both keep, each year, the population by sex and age summed over cells and the flows by sex (the
grouped run also the total of each cell), so the outputs are the same size. Paths run in chunks of
`--chunk` (one compiled call each); the timing is the kernel only, after a compile run, float32.

    python experiments/bench_groups.py --paths 1000 --json
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from stochpop.conventions import N_AGES
from stochpop.demography.groups import (
    EMIGRATION_DURATION_CLASSES,
    FERTILITY_DURATION_CLASSES,
    SHARE_IMMIGRANT_FATHER,
    GroupCells,
)
from stochpop.projection.kernel import KernelConfig, Rates, project

AGES = np.arange(N_AGES)


def bump(centre: float, spread: float, ages: np.ndarray = AGES) -> np.ndarray:
    shape = np.exp(-0.5 * ((ages - centre) / spread) ** 2)
    return shape / shape.sum()


def schedules(cells: GroupCells) -> dict[str, np.ndarray]:
    """Fixed schedules: Lee-Carter a, b (2, A); fertility (C, 35), emigration (C, 2, A) by cell; the
    immigrants' age-sex shape (2, A); the births' destinations (C, C)."""
    a = np.log(np.stack([2e-5 * np.exp(0.095 * AGES), 3.5e-5 * np.exp(0.093 * AGES)]) + 5e-4 * (AGES == 0))
    fert = bump(31.0, 5.5, np.arange(15, 50))
    classes = np.array([2.6, 2.2, 2.0, 1.9, 1.8])[:, None] * fert
    immigrant_fert = np.array([0.8, 1.0, 1.3])[:, None, None] * cells.by_duration(
        classes, FERTILITY_DURATION_CLASSES
    )
    profile = np.where(AGES <= 69, 0.5 + 40.0 * bump(27.0, 8.0), 0.0) * np.ones((2, 1))
    emig_classes = np.array([0.10, 0.07, 0.05, 0.03, 0.015])[:, None, None] * profile
    immigrant_emig = np.array([1.5, 1.2, 0.6])[:, None, None, None] * cells.by_duration(
        emig_classes, EMIGRATION_DURATION_CLASSES, axis=-3
    )
    return dict(
        a=a,
        b=np.full((2, N_AGES), 1.0 / N_AGES),
        fertility=cells.fertility_by_cell(1.6 * fert, immigrant_fert),
        emigration=cells.by_cell(0.003 * profile, immigrant_emig, np.full((3, 1, 1), 0.01) * profile),
        arrivals=np.where(AGES <= 69, bump(27.0, 9.0), 0.0) * np.array([[0.49], [0.51]]),
        destination=cells.birth_destination(np.array(SHARE_IMMIGRANT_FATHER)),
    )


def drivers(rng: np.random.Generator, paths: int, years: int) -> dict[str, np.ndarray]:
    """Per path and year (years, paths[, 3]): k, fertility and emigration factors, immigration by group."""
    return dict(
        k=np.cumsum(rng.normal(-1.5, 1.0, size=(years, paths)), axis=0),
        fertility=np.exp(np.cumsum(rng.normal(0.0, 0.02, size=(years, paths)), axis=0)),
        emigration=rng.uniform(0.7, 1.3, size=(years, paths)),
        immigration=np.array([12_000.0, 6_000.0, 20_000.0]) * rng.lognormal(0.0, 0.2, size=(years, paths, 3)),
    )


def grouped_rates(cells: GroupCells, s: dict[str, np.ndarray]):
    """Rates by cell (paths, C, ...) from one year's drivers, inside the scan."""
    a, b, fert, emig, arrivals = (
        jnp.asarray(s[n], jnp.float32) for n in ("a", "b", "fertility", "emigration", "arrivals")
    )
    destination = jnp.asarray(s["destination"], jnp.float32)
    arrival_cells = np.array([cells.immigrant(g, 0) for g in (1, 2, 3)])

    def rates(x: dict[str, jax.Array]) -> Rates:
        by_cell = (
            jnp.zeros((x["k"].shape[0], cells.size), jnp.float32).at[:, arrival_cells].set(x["immigration"])
        )
        by_cell = by_cell.at[:, cells.rest].set(8_000.0)
        return Rates(
            fertility=x["fertility"][:, None, None] * fert,
            mortality=jnp.exp(a + b * x["k"][:, None, None])[:, None],  # the same for every cell (SSB)
            immigration=by_cell[..., None, None] * arrivals,
            emigration=x["emigration"][:, None, None, None] * emig,
            birth_destination=destination,
        )

    return rates


def ungrouped_rates(s: dict[str, np.ndarray], cells: GroupCells, population: np.ndarray):
    """National rates from the same drivers (fertility and emigration weighted by the jump-off population)."""
    a, b, arrivals = (jnp.asarray(s[n], jnp.float32) for n in ("a", "b", "arrivals"))
    women = population[:, 0, 14:49]
    fert = jnp.asarray((s["fertility"] * women).sum(0) / women.sum(0), jnp.float32)
    emig = jnp.asarray((s["emigration"] * population).sum(0) / population.sum(0), jnp.float32)

    def rates(x: dict[str, jax.Array]) -> Rates:
        total = x["immigration"].sum(-1) + 8_000.0
        return Rates(
            fertility=x["fertility"][:, None] * fert,
            mortality=jnp.exp(a + b * x["k"][:, None, None]),
            immigration=total[:, None, None] * arrivals,
            emigration=x["emigration"][:, None, None] * emig,
        )

    return rates


def initial_population(cells: GroupCells) -> np.ndarray:
    """A Norway-like 1 January stock by cell (C, 2, A): 4.5 million in the rest, 750 000 immigrants."""
    stay = np.exp(-np.arange(cells.durations) / 10.0)
    immigrants = np.stack(
        [
            [size * stay[d] / stay.sum() * bump(28.0 + d, 10.0) for d in range(cells.durations)]
            for size in (1.5e5, 2e5, 4e5)
        ]
    )
    born = np.stack([size * bump(8.0, 7.0) for size in (1e4, 4e4, 1.2e5)])
    by_sex = np.array([0.49, 0.51])[:, None]
    return cells.by_cell(
        4.5e6 * bump(40.0, 30.0) * by_sex, immigrants[:, :, None] * by_sex, born[:, None] * by_sex
    )


def observe_grouped(start, following, flows, x):
    return {
        "population": following.sum(-3),
        "cells": following.sum((-1, -2)),
        "flows": [f.sum((-3, -1)) for f in (flows.deaths, flows.emigrations, flows.immigrations)]
        + [flows.births.sum(-2)],
    }


def observe_ungrouped(start, following, flows, x):
    return {
        "population": following,
        "flows": [f.sum(-1) for f in (flows.deaths, flows.emigrations, flows.immigrations)] + [flows.births],
    }


def timed(fn, *args) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1_000)
    parser.add_argument("--years", type=int, default=76, help="76: 2025-2100")
    parser.add_argument("--chunk", type=int, default=500, help="paths per kernel call")
    parser.add_argument("--max-duration", type=int, default=30, help="SSB: 30 (ch. 8.1)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    cells = GroupCells(max_duration=args.max_duration)
    s = schedules(cells)
    population = initial_population(cells)
    rng = np.random.default_rng(0)
    n_chunks = -(-args.paths // args.chunk)
    chunks = [
        jax.tree.map(lambda v: jnp.asarray(v, jnp.float32), drivers(rng, args.chunk, args.years))
        for _ in range(n_chunks)
    ]

    config = KernelConfig(reclassify=cells.duration_advance())
    grouped = jax.jit(
        lambda p, x: project(p, x, rates_fn=grouped_rates(cells, s), config=config, observe=observe_grouped)
    )
    ungrouped = jax.jit(
        lambda p, x: project(p, x, rates_fn=ungrouped_rates(s, cells, population), observe=observe_ungrouped)
    )
    pop_grouped = jnp.asarray(np.broadcast_to(population, (args.chunk, *population.shape)), jnp.float32)
    pop_national = jnp.asarray(np.broadcast_to(population.sum(0), (args.chunk, 2, N_AGES)), jnp.float32)

    first_grouped = timed(grouped, pop_grouped, chunks[0])  # compiles
    first_ungrouped = timed(ungrouped, pop_national, chunks[0])
    grouped_times = [timed(grouped, pop_grouped, d) for d in chunks]
    ungrouped_times = [timed(ungrouped, pop_national, d) for d in chunks]
    t_grouped, t_ungrouped = sum(grouped_times), sum(ungrouped_times)
    path_years = n_chunks * args.chunk * args.years

    # The grouped run's national totals stay close to the ungrouped one's (rates averaged at jump-off only).
    kept = grouped(pop_grouped, chunks[0])
    national = ungrouped(pop_national, chunks[0])
    total_grouped = float(kept["population"][-1].sum()) / args.chunk
    total_national = float(national["population"][-1].sum()) / args.chunk
    immigrant_share = float(kept["cells"][-1][:, 1 : 1 + 3 * cells.durations].sum() / kept["cells"][-1].sum())

    state_bytes = args.chunk * cells.size * 2 * N_AGES * 4
    result = {
        "paths": n_chunks * args.chunk,
        "years": args.years,
        "chunk": args.chunk,
        "cells": cells.size,
        "dtype": "float32",
        "devices": [str(d) for d in jax.devices()[:1]],
        "grouped_s": t_grouped,
        "ungrouped_s": t_ungrouped,
        "ratio_grouped_to_ungrouped": t_grouped / t_ungrouped,
        "grouped_us_per_path_year": 1e6 * t_grouped / path_years,
        "ungrouped_us_per_path_year": 1e6 * t_ungrouped / path_years,
        "grouped_ns_per_cell_path_year": 1e9 * t_grouped / path_years / cells.size,
        "compile_grouped_s": first_grouped - grouped_times[0],
        "compile_ungrouped_s": first_ungrouped - ungrouped_times[0],
        "state_mb_per_chunk": state_bytes / 1e6,
        "final_population_grouped_mean": total_grouped,
        "final_population_ungrouped_mean": total_national,
        "final_immigrant_share": immigrant_share,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:34s} {value:,.3f}" if isinstance(value, float) else f"{key:34s} {value}")


if __name__ == "__main__":
    main()
