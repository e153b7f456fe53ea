"""A plain NumPy cohort-component projection, written with loops for clarity, to check the JAX kernel.

One path, one region: population[sex, age] with sex 0 = female, ages 0..119 by age at end of year
(`project_cells_one_path`: one path with cells, population[cell, sex, age]).
Rules (SSB, reference ch. 4.1 and 6): births from women who reach 15..49 during the year; everyone ages one
year (119 open); deaths and emigrations on the aged population; then immigrations. q = 1 - exp(-m), 0.5
from age 108. No migration above `migration_max_age`.
"""

import math

import numpy as np

N_AGES = 120


def project_one_path(
    population: np.ndarray,
    fertility: np.ndarray,
    mortality: np.ndarray,
    net_migration: np.ndarray | None = None,
    immigration: np.ndarray | None = None,
    emigration: np.ndarray | None = None,
    share_boys: float = 0.51369,
    migration_max_age: int | None = 69,
) -> dict[str, np.ndarray]:
    """population (2, 120); per-year inputs lead with year: fertility (T, 35), the others (T, 2, 120)."""
    years = fertility.shape[0]
    pop = population.astype(float).copy()
    out = {k: [] for k in ("population", "births", "deaths", "emigrations", "immigrations")}
    for t in range(years):
        total_births = 0.0
        for i, age in enumerate(range(15, 50)):
            total_births += fertility[t, i] * pop[0, age - 1]
        newborns = [(1 - share_boys) * total_births, share_boys * total_births]

        aged = np.zeros((2, N_AGES))
        deaths = np.zeros((2, N_AGES))
        emig = np.zeros((2, N_AGES))
        immig = np.zeros((2, N_AGES))
        following = np.zeros((2, N_AGES))
        for s in range(2):
            aged[s, 0] = newborns[s]
            for age in range(1, N_AGES):
                aged[s, age] = pop[s, age - 1]
            aged[s, N_AGES - 1] += pop[s, N_AGES - 1]
            for age in range(N_AGES):
                migrates = migration_max_age is None or age <= migration_max_age
                q = 0.5 if age >= 108 else 1 - math.exp(-mortality[t, s, age])
                e = emigration[t, s, age] if (emigration is not None and migrates) else 0.0
                exit_total = q + e
                if exit_total > 1:
                    q, e = q / exit_total, e / exit_total
                deaths[s, age] = q * aged[s, age]
                emig[s, age] = e * aged[s, age]
                if immigration is not None and migrates:
                    immig[s, age] += immigration[t, s, age]
                if net_migration is not None and migrates:
                    net = net_migration[t, s, age]
                    if net >= 0:
                        immig[s, age] += net
                    else:
                        left = aged[s, age] - deaths[s, age] - emig[s, age]
                        emig[s, age] += min(-net, left)
                following[s, age] = aged[s, age] - deaths[s, age] - emig[s, age] + immig[s, age]
        pop = following
        out["population"].append(following)
        out["births"].append(np.array(newborns))
        out["deaths"].append(deaths)
        out["emigrations"].append(emig)
        out["immigrations"].append(immig)
    return {k: np.array(v) for k, v in out.items()}


def project_cells_one_path(
    population: np.ndarray,
    fertility: np.ndarray,
    mortality: np.ndarray,
    immigration: np.ndarray,
    emigration: np.ndarray,
    birth_destination: np.ndarray | None = None,
    reclassify: tuple[int, ...] | None = None,
    share_boys: float = 0.51369,
    migration_max_age: int | None = 69,
    out_rate: np.ndarray | None = None,
    destination: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """One path with cells (e.g. population groups or regions), gross migration.

    population (C, 2, 120); per year: fertility (T, C, 35), mortality, immigration, emigration (T, C, 2, 120),
    birth_destination (T, C, C) (births to mothers of cell c go to cell c' in share [c, c']; None: the
    mother's cell). Transfers between cells (internal migration): out_rate (T, C, 2, 120) probabilities of
    moving out, destination (T, C, C, 2, 120) the movers' shares by destination (None: no transfers). The
    year: births by the mother's 1 January cell, sent to their destination cells; ageing; deaths, emigrations
    and transfers out by the 1 January cell (exits scaled down together where q + e + o > 1); transfers in,
    each mover added to the cell of its share; then everyone present in cell c moves to reclassify[c] (None:
    nobody moves); then the immigrations are added where they are given.
    """
    years, cells = fertility.shape[0], population.shape[0]
    pop = population.astype(float).copy()
    names = (
        "population",
        "births",
        "births_by_mother",
        "deaths",
        "emigrations",
        "immigrations",
        "transfers_in",
        "transfers_out",
    )
    out = {k: [] for k in names}
    for t in range(years):
        by_mother = np.zeros((cells, 2))
        for c in range(cells):
            total_births = 0.0
            for i, age in enumerate(range(15, 50)):
                total_births += fertility[t, c, i] * pop[c, 0, age - 1]
            by_mother[c] = [(1 - share_boys) * total_births, share_boys * total_births]
        newborns = np.zeros((cells, 2))
        for c in range(cells):
            for to in range(cells):
                share = (
                    (1.0 if to == c else 0.0) if birth_destination is None else birth_destination[t, c, to]
                )
                newborns[to] += share * by_mother[c]

        aged = np.zeros((cells, 2, N_AGES))
        deaths = np.zeros((cells, 2, N_AGES))
        emig = np.zeros((cells, 2, N_AGES))
        immig = np.zeros((cells, 2, N_AGES))
        moved_out = np.zeros((cells, 2, N_AGES))
        moved_in = np.zeros((cells, 2, N_AGES))
        present = np.zeros((cells, 2, N_AGES))
        for c in range(cells):
            for s in range(2):
                aged[c, s, 0] = newborns[c, s]
                for age in range(1, N_AGES):
                    aged[c, s, age] = pop[c, s, age - 1]
                aged[c, s, N_AGES - 1] += pop[c, s, N_AGES - 1]
                for age in range(N_AGES):
                    migrates = migration_max_age is None or age <= migration_max_age
                    q = 0.5 if age >= 108 else 1 - math.exp(-mortality[t, c, s, age])
                    e = emigration[t, c, s, age] if migrates else 0.0
                    o = out_rate[t, c, s, age] if (out_rate is not None and migrates) else 0.0
                    if q + e + o > 1:
                        q, e, o = q / (q + e + o), e / (q + e + o), o / (q + e + o)
                    deaths[c, s, age] = q * aged[c, s, age]
                    emig[c, s, age] = e * aged[c, s, age]
                    moved_out[c, s, age] = o * aged[c, s, age]
                    immig[c, s, age] = immigration[t, c, s, age] if migrates else 0.0
                    present[c, s, age] = (
                        aged[c, s, age] - deaths[c, s, age] - emig[c, s, age] - moved_out[c, s, age]
                    )
        if destination is not None:
            for c in range(cells):
                for to in range(cells):
                    for s in range(2):
                        for age in range(N_AGES):
                            moved_in[to, s, age] += destination[t, c, to, s, age] * moved_out[c, s, age]
        present += moved_in
        following = np.zeros((cells, 2, N_AGES))
        for c in range(cells):
            to = c if reclassify is None else reclassify[c]
            following[to] += present[c]
        following += immig
        pop = following
        out["population"].append(following)
        out["births"].append(newborns)
        out["births_by_mother"].append(by_mother)
        out["deaths"].append(deaths)
        out["emigrations"].append(emig)
        out["immigrations"].append(immig)
        out["transfers_in"].append(moved_in)
        out["transfers_out"].append(moved_out)
    return {k: np.array(v) for k, v in out.items()}
