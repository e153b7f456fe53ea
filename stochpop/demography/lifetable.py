"""Life-table and fertility summaries on NumPy arrays.

Every function takes arrays with the age axis LAST and any leading axes (draws, years, sexes), so it
vectorises over them. Ages are single years; unless `ages` is given, index i of the age axis is age i.

Two age conventions appear here (see `conventions`):

* `life_table` / `life_expectancy` follow the HMD protocol (v6): central death rates m(x) by age in
  completed years, q(x) = m / (1 + (1 - a(x)) m) with a(x) = 0.5 except a(0) from Andreev & Kingkade
  (2015), and an open last age with L = l / m. Fed HMD's own mx, e0 matches HMD's to rounding.
* `death_probability` / `life_expectancy_from_q` follow SSB (reference ch. 6): q = 1 - exp(-m) by age at
  the end of the year.
"""

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from stochpop.conventions import Q_FIXED_FROM_AGE, Q_FIXED_VALUE, SEXES

# Andreev & Kingkade (2015), a0 from m0 by sex: (m0 breakpoint 1, breakpoint 2, low-m0 intercept,
# low-m0 slope, middle intercept, middle slope, high-m0 constant). HMD Methods Protocol v6, table 1.
_AK_A0 = {
    "female": (0.01724, 0.06891, 0.14903, -2.05527, 0.04667, 3.88089, 0.31411),
    "male": (0.02300, 0.08307, 0.14929, -1.99545, 0.02832, 3.26201, 0.29915),
}


def _ages(m: np.ndarray, ages: np.ndarray | None) -> np.ndarray:
    """Ages of the last axis of `m`: given, or 0..n-1."""
    n = np.shape(m)[-1]
    ages = np.arange(n) if ages is None else np.asarray(ages)
    if ages.shape != (n,):
        raise ValueError(f"ages has shape {ages.shape}, expected ({n},) to match the age axis")
    return ages


def death_probability(m: np.ndarray, ages: np.ndarray | None = None) -> np.ndarray:
    """SSB death probabilities q = 1 - exp(-m), shape of `m` (age axis last).

    From age `Q_FIXED_FROM_AGE` (108) on, q is `Q_FIXED_VALUE` (0.5). `ages` labels the last axis
    (default 0..n-1), so an age axis that stops below 108 is not changed.
    """
    m = np.asarray(m, dtype=float)
    q = -np.expm1(-m)
    return np.where(_ages(m, ages) >= Q_FIXED_FROM_AGE, Q_FIXED_VALUE, q)


def infant_separation_factor(m0: np.ndarray, sex: str | np.ndarray) -> np.ndarray:
    """Andreev-Kingkade (2015) a0: mean years lived in [0, 1) by infants who die, from m0 and sex.

    `sex` is a label of `SEXES` or an array of labels broadcastable against `m0`.
    """
    m0 = np.asarray(m0, dtype=float)
    sex = np.asarray(sex)
    if not np.isin(sex, SEXES).all():
        raise ValueError(f"sex must be one of {SEXES}, got {np.unique(sex).tolist()}")
    is_male = np.broadcast_to(sex == "male", np.broadcast_shapes(m0.shape, sex.shape))
    return separation_factor_by_sex(m0, is_male)


def separation_factor_by_sex(m0: Any, is_male: Any, xp: Any = np) -> Any:
    """a0 of `infant_separation_factor` with the sex as a boolean array (NumPy or, with xp=jax.numpy, JAX)."""
    f, m = (xp.asarray(_AK_A0[label]) for label in ("female", "male"))
    b1, b2, c_low, s_low, c_mid, s_mid, c_high = (xp.where(is_male, m[i], f[i]) for i in range(7))
    return xp.where(m0 < b1, c_low + s_low * m0, xp.where(m0 < b2, c_mid + s_mid * m0, c_high))


def life_table(
    m: np.ndarray, sex: str | np.ndarray, ages: np.ndarray | None = None, radix: float = 100_000.0
) -> dict[str, np.ndarray]:
    """Period life table (HMD protocol) from central death rates m by age in completed years.

    m: deaths per person-year, age axis last, any leading axes; the last age is open-ended (if its m is
       0 while survivors reach it, its L and every e(x) are infinite: merge sparse top ages first).
    sex: label of `SEXES` or an array of labels broadcastable to m.shape[:-1] (only a0 uses it).
    ages: labels of the age axis (default 0..n-1); a0 uses Andreev-Kingkade only if the first age is 0.
    Returns arrays of m's shape: "ax" (years), "qx", "lx" and "dx" (persons of `radix`), "Lx" and
    "Tx" (person-years), "ex" (years).
    """
    table = _person_years(np.asarray(m, dtype=float), sex, _ages(np.asarray(m), ages), radix)
    lx, Lx = table["lx"], table["Lx"]
    Tx = np.cumsum(Lx[..., ::-1], axis=-1)[..., ::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        ex = np.where(lx > 0, Tx / lx, 0.0)
    return {**table, "Tx": Tx, "ex": ex}


def _person_years(
    m: np.ndarray, sex: str | np.ndarray, ages: np.ndarray, radix: float
) -> dict[str, np.ndarray]:
    """ax, qx, lx, dx and Lx of `life_table` (everything up to person-years lived by age)."""
    a0 = infant_separation_factor(m[..., 0], sex) if ages[0] == 0 else np.full(m.shape[:-1], 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            name: radix * v if name in ("lx", "dx", "Lx") else v for name, v in person_years(m, a0).items()
        }


def person_years(m: Any, a0: Any, xp: Any = np) -> dict[str, Any]:
    """ax, qx, lx, dx, Lx (radix 1) of rates m (..., age), last age open, first age's a = a0 (...).

    Array-generic: NumPy, or JAX with xp=jax.numpy (vectorised forecasts compute e0 inside `jit`).
    """
    closed = m[..., :-1]
    ax = xp.concatenate([a0[..., None], xp.full_like(closed[..., 1:], 0.5)], axis=-1)
    q = xp.minimum(closed / (1 + (1 - ax) * closed), 1.0)
    ones = xp.ones_like(m[..., :1])
    lx = xp.concatenate([ones, xp.cumprod(1 - q, axis=-1)], axis=-1)
    qx = xp.concatenate([q, ones], axis=-1)
    dx = lx * qx
    m_open, l_open = m[..., -1], lx[..., -1]
    a_open = xp.where(m_open > 0, 1 / m_open, xp.inf)
    L_open = xp.where(l_open > 0, l_open * a_open, 0.0)
    return {
        "ax": xp.concatenate([ax, a_open[..., None]], axis=-1),
        "qx": qx,
        "lx": lx,
        "dx": dx,
        "Lx": xp.concatenate([lx[..., :-1] - (1 - ax) * dx[..., :-1], L_open[..., None]], axis=-1),
    }


def life_expectancy(m: np.ndarray, sex: str | np.ndarray, ages: np.ndarray | None = None) -> np.ndarray:
    """Period life expectancy e(x) in years at every age, shape of `m`; see `life_table`."""
    return life_table(m, sex, ages)["ex"]


def e0(m: np.ndarray, sex: str | np.ndarray) -> np.ndarray:
    """Period life expectancy at birth in years, shape m.shape[:-1]; m starts at age 0 (`life_table`'s
    e(0) = T(0) / l(0), without the table's other ages)."""
    m = np.asarray(m, dtype=float)
    return _person_years(m, sex, _ages(m, None), 1.0)["Lx"].sum(axis=-1)


def fold_ages(step: Callable[[Any, Any], Any], carry: Any, n_ages: int, xp: Any = np) -> Any:
    """`carry` after carry = step(x, carry) for x = 0..n_ages-1: a Python loop for NumPy, `jax.lax.fori_loop`
    for JAX (xp=jax.numpy; compiled once, not unrolled). A recursion over ages needs no cumulative sum or
    product along the age axis."""
    if xp is np:
        for x in range(n_ages):
            carry = step(x, carry)
        return carry
    return jax.lax.fori_loop(0, n_ages, step, carry)


def e0_by_sex(m: Any, xp: Any = np) -> Any:
    """e0 of rates m (..., sex, age 0..) with the sex axis in `SEXES` order, NumPy or JAX (xp).

    The life table of `person_years`, summed from the open age down (`fold_ages`): e(open) = 1 / m and
    e(x) = L(x) / l(x) + (1 - q(x)) e(x + 1) with L(x) / l(x) = 1 - (1 - a(x)) q(x) (Horner's scheme).
    """
    is_male = xp.asarray([label == "male" for label in SEXES])
    a0 = separation_factor_by_sex(m[..., 0], is_male, xp)
    by_age = xp.moveaxis(m, -1, 0)
    oldest = by_age.shape[0] - 1

    def younger(i: Any, e: Any) -> Any:
        x = oldest - 1 - i
        a = xp.where(x == 0, a0, 0.5)
        q = xp.minimum(by_age[x] / (1 + (1 - a) * by_age[x]), 1.0)
        return 1 - (1 - a) * q + (1 - q) * xp.where(q < 1, e, 0.0)

    m_open = by_age[oldest]
    e_open = xp.where(m_open > 0, 1 / xp.where(m_open > 0, m_open, 1.0), xp.inf)
    return fold_ages(younger, e_open, oldest, xp)


def life_expectancy_from_q(q: np.ndarray) -> np.ndarray:
    """SSB-style life expectancy at birth in years from q by age at end of year, shape q.shape[:-1].

    q(x) is the probability that someone reaching age x in a calendar year dies during that year
    (x = 0: born and died in the same year), e.g. from `death_probability`, ages 0..n-1. With
    survivorship s(x) = prod_{k<=x} (1 - q(k)) at the end of the year of age x, and deaths spread evenly
    over each year:

        e0 = 0.5 * (1 + s(0)) / 2 + sum_{x>=1} (s(x-1) + s(x)) / 2 + tail,

    the first term for the half year lived on average in the year of birth. After the last age its q
    is assumed to continue, so the tail is s(last) * (2 - q(last)) / (2 q(last)).
    """
    q = np.asarray(q, dtype=float)
    s = np.cumprod(1 - q, axis=-1)
    birth_year = 0.25 * (1 + s[..., 0])
    later_years = 0.5 * (s[..., :-1] + s[..., 1:]).sum(axis=-1)
    q_last, s_last = q[..., -1], s[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(s_last > 0, s_last * (2 - q_last) / (2 * q_last), 0.0)
    return birth_year + later_years + tail


def total_fertility(asfr: np.ndarray) -> np.ndarray:
    """Total fertility rate (births per woman): sum of single-year ASFR over the last axis."""
    return np.asarray(asfr, dtype=float).sum(axis=-1)


def mean_age_at_birth(asfr: Any, ages: Any, total: Any = None, xp: Any = np) -> Any:
    """Mean age of mothers at birth in years, shape asfr.shape[:-1]: the ages weighted by `asfr`.

    asfr (..., age): ASFR, births or shares of a schedule by mother's age in completed years `ages` (age,),
    each taken at its midpoint age + 0.5; total (...): asfr summed over age (default: that sum; 1 for
    shares that sum to one). NumPy in float64, or JAX with xp=jax.numpy in asfr's dtype (inside `jit`).
    """
    asfr = np.asarray(asfr, dtype=float) if xp is np else asfr
    weighted = (asfr * (xp.asarray(ages) + 0.5)).sum(axis=-1)
    return weighted / (asfr.sum(axis=-1) if total is None else total)
