"""The coherent model's parameters (`Params`, their dims) and the product-ratio log rates they give."""

from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from stochpop.components.mortality.window import FIT_MAX_AGE

Array = jax.Array
AnyArray = Array | np.ndarray
"""NumPy or JAX arrays: `product_ratio_log_rates` serves both."""

LOADING_NODES = (0, 1, 2, 3, 5, 7, 10, 13, 16, 19, 22, 25, *range(30, FIT_MAX_AGE + 1, 5))
"""Ages where the age loadings b(x) are free; b is linear in age between them (`loading_basis`)."""

SCALARS = ("drift", "sigma", "phi", "tau", "dispersion")
"""The scalar (per-component) parameters of the coherent model."""


class Params(NamedTuple):
    """Coherent model parameters in natural units (also used for their preconditioning scales).

    a_p, a_r: (age,) log rates; b_p: (n_product, age); b_r: (n_ratio, age); k_p: (n_product, year);
    k_r: (n_ratio, year); drift, sigma: (n_product,) per year; phi, tau: (n_ratio,); dispersion: ().
    """

    a_p: Any
    b_p: Any
    k_p: Any
    a_r: Any
    b_r: Any
    k_r: Any
    drift: Any
    sigma: Any
    phi: Any
    tau: Any
    dispersion: Any


PARAM_DIMS: dict[str, list[str]] = {
    "a_p": ["age"],
    "b_p": ["p_component", "age"],
    "k_p": ["p_component", "year"],
    "a_r": ["age"],
    "b_r": ["r_component", "age"],
    "k_r": ["r_component", "year"],
    "drift": ["p_component"],
    "sigma": ["p_component"],
    "phi": ["r_component"],
    "tau": ["r_component"],
    "dispersion": [],
}
"""Dims of each natural parameter in a fit's posterior (after chain, draw)."""


def loading_basis(ages: np.ndarray, nodes: Sequence[int] = LOADING_NODES) -> np.ndarray:
    """Piecewise-linear ("hat") basis (age, node): b(x) = basis @ beta interpolates linearly between the
    values beta at the `nodes` (which must include the first and last age)."""
    node_ages = np.asarray(nodes, float)
    return np.stack(
        [np.interp(ages, node_ages, np.eye(node_ages.size)[j]) for j in range(node_ages.size)], axis=-1
    )


def product_ratio_log_rates(
    a_p: AnyArray, b_p: AnyArray, k_p: AnyArray, a_r: AnyArray, b_r: AnyArray, k_r: AnyArray
) -> Array:
    """log m (..., year, sex, age) from product and ratio terms.

    a_p, a_r: (..., age); b_p: (..., n_product, age); k_p: (..., n_product, year); likewise b_r, k_r.
    Sex order is `SEXES` (female, male): log m_F = log p - log r, log m_M = log p + log r.
    """
    log_p = a_p[..., None, :] + jnp.einsum("...ix,...it->...tx", b_p, k_p)
    log_r = a_r[..., None, :] + jnp.einsum("...jx,...jt->...tx", b_r, k_r)
    return jnp.stack([log_p - log_r, log_p + log_r], axis=-2)
