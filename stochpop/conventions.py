"""The demographic conventions of the projection, in one place (SSB BEFINN, reference ch. 4.1 and 6).

Ages are single years 0..119, *age at the end of the year*: an event in year t at age x happens to a
person who reaches (or would have reached) age x by 31 December of year t. Such a person was x-1 on
1 January of year t (newborns of year t have age 0). Rates by this age apply to a population that is on
average half a year younger than the usual age-at-event rates.

Within a year: births (from women 15-49 by age at end of year), then everyone ages one year, then deaths
and emigrations are computed on the aged population and deducted, then immigrations are added.
"""

import numpy as np

SEXES: tuple[str, str] = ("female", "male")
"""Order of the sex axis everywhere: index 0 female, 1 male."""

N_AGES: int = 120
"""Ages 0..119; 119 is the open age group 119+."""

KERNEL_AGES: np.ndarray = np.arange(N_AGES)
"""The ages of the projection, 0..119, as an array (coordinates of every `age` axis the kernel sees)."""

FERTILE_AGES: tuple[int, int] = (15, 50)
"""Mothers' ages by age at end of year: 15..49 (half-open range)."""

SHARE_BOYS: float = 0.51369
"""Share of boys among births (SSB)."""

Q_FIXED_FROM_AGE: int = 108
"""From this age the death probability is fixed (SSB: 0.5 at 108-119)."""

Q_FIXED_VALUE: float = 0.5

MIGRATION_MAX_AGE: int | None = 69
"""Highest age with migration by default (SSB: none at 70+). None means migration at every age."""

INFANT_DEATHS_LOWER_SHARE: float = 0.9
"""Share of infant deaths in the lower Lexis triangle (born and died in the same calendar year).

Most infant deaths in low-mortality populations occur in the first weeks of life, so about 90% fall in the
calendar year of birth. Every other age splits its deaths (and its exposure) equally between the two
triangles.
"""

TABLE_4_2: tuple[str, ...] = (
    "MMMM", "LLML", "HHMH", "HMMM", "LMMM", "MHMM", "MLMM", "MKMM",
    "MMMH", "MMML", "MMMK", "LHML", "HLMH", "MMM0", "MM00",
)  # fmt: skip
"""SSB's 15 alternatives (reference Table 4.2): fertility, life expectancy, internal migration, immigration.
The reference text prints high immigration as "MMHM", which by the letter order (and the national model's
single internal-migration level) can only be MMMH."""

ALTERNATIVE_LETTERS: tuple[str, str, str, str] = ("LMHK", "LMHK", "M0", "LMHK0")
"""The letters each position of an alternative's code may take: fertility and life expectancy L/M/H (K: the
medium path's first year held), internal migration M (0: none), immigration L/M/H/K (0: none)."""


def is_alternative_code(code: str) -> bool:
    """Whether `code` (upper case) is an alternative's four letters (`ALTERNATIVE_LETTERS`)."""
    if len(code) != len(ALTERNATIVE_LETTERS):
        return False
    return all(letter in allowed for letter, allowed in zip(code, ALTERNATIVE_LETTERS, strict=True))


DEFAULT_QUANTILES: tuple[float, ...] = (0.025, 0.1, 0.5, 0.9, 0.975)
"""Quantiles reported by default: the median and the 80% and 95% central intervals."""

DEFAULT_VARIANT_QUANTILES: dict[str, float] = {"L": 0.1, "M": 0.5, "H": 0.9}
"""SSB-style Low/Medium/High variants as quantiles of the sampled paths."""
