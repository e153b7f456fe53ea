"""BEFINN's population groups as the cells of one state axis (reference ch. 4.2, 5.1, 8).

The national model splits the population into the rest of the population; immigrants by country group
g = 1..G (Appendix B: 1 Western Europe, North America, Australia and New Zealand; 2 the eastern EU
members; 3 the rest of the world) and by single year of duration of stay d = 0..D (completed years since
first immigration; D open; SSB distributes immigration over durations 0-30, ch. 8.1); and the
Norwegian-born to two immigrant parents by their mother's country group. `GroupCells` numbers these
cells and builds what the kernel (`stochpop.projection.kernel`) needs to run them: the duration advance
(`KernelConfig.reclassify`), the births' destinations (`Rates.birth_destination`) and rates by cell.

Cell order (C = 1 + G (D + 1) + G cells; 97 for SSB's 3 groups and durations 0-30):

    0                          the rest of the population
    1 + (g - 1)(D + 1) + d     immigrants of group g, duration d
    1 + G (D + 1) + (g - 1)    Norwegian-born to two immigrant parents, mother of group g

Durations follow the kernel's year (its module docstring): a cell's rates apply to the cell held on
1 January, so the emigration rate of duration 0 is that of immigrants who arrived the year before; at the
end of the year everyone present moves one duration up (D keeps its own), then the year's immigrants are
added at duration 0.
"""

from dataclasses import dataclass

import numpy as np

N_COUNTRY_GROUPS: int = 3
"""SSB's country groups (Appendix B)."""

MAX_DURATION: int = 30
"""The open duration class: SSB distributes immigration by single years of duration 0-30 (ch. 8.1)."""

SHARE_IMMIGRANT_FATHER: tuple[float, ...] = (0.50, 0.80, 0.75)
"""Long-run share of immigrant women's children whose father is an immigrant too, by the mother's country
group (reference ch. 3.4, Figure 3.34: group 1 raised to 50%, group 2 falling to 80%, group 3 at about
today's 75%). These children are Norwegian-born to two immigrant parents of their mother's group; the
others belong to the rest of the population."""

FERTILITY_DURATION_CLASSES: tuple[int, ...] = (0, 2, 4, 7, 12)
"""First durations of SSB's fertility classes of immigrant women: 1 year or less, 2-3, 4-6, 7-11, 12 or
more (ch. 5.1)."""

EMIGRATION_DURATION_CLASSES: tuple[int, ...] = (0, 1, 2, 5, 10)
"""First durations of SSB's emigration classes of immigrants: 0, 1, 2-4, 5-9, 10 or more (ch. 8.2)."""


@dataclass(frozen=True)
class GroupCells:
    """The cells of BEFINN's groups: G country groups, immigrant durations 0..max_duration (open)."""

    groups: int = N_COUNTRY_GROUPS
    max_duration: int = MAX_DURATION

    @property
    def durations(self) -> int:
        """Duration classes per country group, D + 1."""
        return self.max_duration + 1

    @property
    def size(self) -> int:
        """C, the number of cells."""
        return 1 + self.groups * self.durations + self.groups

    @property
    def rest(self) -> int:
        """The cell of the rest of the population (0)."""
        return 0

    def immigrant(self, group: int, duration: int) -> int:
        """The cell of immigrants of country `group` (1..G) with `duration` (0..D) years of stay."""
        return 1 + (group - 1) * self.durations + duration

    def norwegian_born(self, group: int) -> int:
        """The cell of the Norwegian-born to two immigrant parents, mother of country `group` (1..G)."""
        return 1 + self.groups * self.durations + (group - 1)

    def labels(self) -> tuple[str, ...]:
        """A name per cell, in cell order: "rest", "immigrant g1 d0", ..., "norwegian-born g1", ..."""
        immigrants = [
            f"immigrant g{g} d{d}" for g in range(1, self.groups + 1) for d in range(self.durations)
        ]
        born = [f"norwegian-born g{g}" for g in range(1, self.groups + 1)]
        return ("rest", *immigrants, *born)

    def duration_advance(self) -> tuple[int, ...]:
        """`KernelConfig.reclassify`: immigrants of duration d move to d + 1, D stays in D, every other
        cell stays where it is."""
        advance = list(range(self.size))
        for g in range(1, self.groups + 1):
            for d in range(self.durations):
                advance[self.immigrant(g, d)] = self.immigrant(g, min(d + 1, self.max_duration))
        return tuple(advance)

    def birth_destination(self, share_immigrant_father: np.ndarray) -> np.ndarray:
        """`Rates.birth_destination` (..., C, C) from the share of children with an immigrant father by
        the mother's country group (..., G): an immigrant mother's births (any duration) go to the
        Norwegian-born of her group in that share and to the rest otherwise; all other births go to the
        rest (a Norwegian-born mother's children have a parent born in Norway)."""
        share = np.asarray(share_immigrant_father, dtype=float)
        destination = np.zeros((*share.shape[:-1], self.size, self.size))
        destination[..., :, self.rest] = 1.0
        for g in range(1, self.groups + 1):
            mothers = [self.immigrant(g, d) for d in range(self.durations)]
            destination[..., mothers, self.norwegian_born(g)] = share[..., g - 1, None]
            destination[..., mothers, self.rest] = 1.0 - share[..., g - 1, None]
        return destination

    def by_cell(
        self, rest: np.ndarray, immigrants: np.ndarray, norwegian_born: np.ndarray, axis: int = -3
    ) -> np.ndarray:
        """Values of each kind of cell -> by cell, the cell axis at `axis` (negative; -3 before (sex, age)).

        rest (..., *tail), immigrants by group and duration (..., G, D + 1, *tail), Norwegian-born by group
        (..., G, *tail), where tail is the -axis - 1 axes after the cell's; leading axes and axes of length
        1 broadcast. Returns (..., C, *tail): rates (emigration, mortality), counts and populations alike.
        """
        tail = -axis - 1
        rest = np.asarray(rest, dtype=float)
        imm = np.asarray(immigrants, dtype=float)
        cut = imm.ndim - tail - 2
        parts = [
            np.expand_dims(rest.reshape((1,) * max(0, tail - rest.ndim) + rest.shape), axis),
            imm.reshape(*imm.shape[:cut], imm.shape[cut] * imm.shape[cut + 1], *imm.shape[cut + 2 :]),
            np.asarray(norwegian_born, dtype=float),
        ]
        ndim = max(p.ndim for p in parts)
        parts = [p.reshape((1,) * (ndim - p.ndim) + p.shape) for p in parts]
        position = ndim + axis
        common = np.broadcast_shapes(*((*p.shape[:position], 1, *p.shape[position + 1 :]) for p in parts))
        counts = (1, self.groups * self.durations, self.groups)
        return np.concatenate(
            [
                np.broadcast_to(p, (*common[:position], n, *common[position + 1 :]))
                for p, n in zip(parts, counts, strict=True)
            ],
            axis=position,
        )

    def kinds(self, values: np.ndarray, axis: int = -3) -> np.ndarray:
        """Values by cell, the cell axis at `axis` (..., C, *tail) -> by kind of cell (..., 1 + 2G, *tail):
        the rest, the immigrants of each group (summed over durations), the Norwegian-born of each group."""
        values = np.moveaxis(np.asarray(values), axis, -1)
        immigrants = values[..., 1 : 1 + self.groups * self.durations]
        by_group = immigrants.reshape(*values.shape[:-1], self.groups, self.durations).sum(-1)
        kinds = np.concatenate([values[..., :1], by_group, values[..., self.norwegian_born(1) :]], axis=-1)
        return np.moveaxis(kinds, -1, axis)

    def fertility_by_cell(self, rest: np.ndarray, immigrants: np.ndarray) -> np.ndarray:
        """`Rates.fertility` by cell (..., C, 35) from the rest's (..., 35) and immigrant women's by group
        and duration (..., G, D + 1, 35) (`by_duration` expands SSB's five duration classes): the
        Norwegian-born daughters of immigrants have the rest's fertility (ch. 4.2)."""
        return self.by_cell(rest, immigrants, np.expand_dims(rest, -2), axis=-2)

    def immigration_at_arrival(
        self, rest: np.ndarray, immigrants: np.ndarray, norwegian_born: np.ndarray
    ) -> np.ndarray:
        """`Rates.immigration` by cell (..., C, 2, A) from the immigrations of the rest (..., 2, A), of
        immigrants by country group (..., G, 2, A), placed at duration 0 (the year's arrivals are there
        at the end of the year), and of Norwegian-born to immigrant parents by group (..., G, 2, A)."""
        imm = np.asarray(immigrants, dtype=float)
        at_arrival = np.zeros((*imm.shape[:-2], self.durations, *imm.shape[-2:]))
        at_arrival[..., 0, :, :] = imm
        return self.by_cell(rest, at_arrival, norwegian_born)

    def by_duration(
        self, classes: np.ndarray, first_durations: tuple[int, ...], axis: int = -2
    ) -> np.ndarray:
        """Values by duration class, classes starting at `first_durations` (K, e.g.
        `FERTILITY_DURATION_CLASSES`, the last class open), along `axis` (..., K, *tail) -> by single
        duration (..., D + 1, *tail)."""
        index = np.searchsorted(np.asarray(first_durations), np.arange(self.durations), side="right") - 1
        return np.take(np.asarray(classes), index, axis=axis)
