"""The Poisson maximum-likelihood reference fit of the coherent model, its identification, and the model
`Frame` built from it (the units and constraints of the coordinates NUTS samples)."""

import math
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import minimize

from stochpop.components.fitting import constant_values
from stochpop.components.mortality.indices import IndexCoordinates, empirical_bayes_scales, index_coordinates
from stochpop.components.mortality.parameters import Params, loading_basis, product_ratio_log_rates
from stochpop.components.mortality.window import filled_log_rates

Array = jax.Array


def normalise_components(
    b: np.ndarray, k: np.ndarray, weights: np.ndarray, first_mean_one: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate a rank-n bilinear term b^T k (b (n, age), k (n, year), k rows centred) to its weighted SVD
    form, with age `weights` w (expected deaths by age).

    Components come out w-orthogonal (sum_x w b_i b_l = 0) with orthogonal k, ordered by size, and
    scaled so that b_1 has w-weighted mean 1 (if `first_mean_one`: k_1 is then the death-weighted mean
    log-rate index) or else w-weighted mean square 1; signed so that b_1 has a positive weighted mean
    or, for the others, the largest |b_i(x)| is positive.
    """
    root = np.sqrt(weights / weights.sum())
    u, s, vt = np.linalg.svd(root[:, None] * (b.T @ k), full_matrices=False)
    b_new, k_new = [], []
    for i in range(b.shape[0]):
        loading = u[:, i] / root
        if i == 0 and first_mean_one:
            factor = float(np.sum(root**2 * loading))
        else:
            factor = float(np.sign(loading[np.argmax(np.abs(loading))]))
        b_new.append(loading / factor)
        k_new.append(s[i] * vt[i] * factor)
    return np.asarray(b_new), np.asarray(k_new)


def age_weights(reference: Params, exposure: np.ndarray) -> np.ndarray:
    """Expected deaths by age (age,), summed over years and sexes, at the reference (exposure (year, sex,
    age)): the weights of the identification (`normalise_components`, `identification`)."""
    return _expected(reference, exposure).sum((0, 1))


def _expected(reference: Params, exposure: np.ndarray) -> np.ndarray:
    """Expected deaths (year, sex, age) at the reference, in float64 whatever JAX's default."""
    with jax.enable_x64(True):
        log_m = product_ratio_log_rates(*(jnp.asarray(x, jnp.float64) for x in reference[:6]))
        return np.asarray(exposure * np.exp(np.asarray(log_m)))


def _svd_start(log_rates: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, b (n, age), k (n, year) of log_rates (year, age) by the SVD (Lee-Carter 1992)."""
    a = log_rates.mean(0)
    u, s, vt = np.linalg.svd((log_rates - a).T, full_matrices=False)
    return a, u[:, :n].T * np.sqrt(s[:n, None]), vt[:n] * np.sqrt(s[:n, None])


def _lbfgs(objective: Any, start: np.ndarray, max_iterations: int) -> np.ndarray:
    """Minimise a JAX scalar function by SciPy's L-BFGS-B with a jitted value-and-gradient (float64)."""
    value_and_grad = jax.jit(jax.value_and_grad(objective))
    result = minimize(
        lambda theta: tuple(np.asarray(v, float) for v in value_and_grad(jnp.asarray(theta))),
        np.asarray(start, float),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations, "ftol": 1e-11, "gtol": 1e-9, "maxcor": 30},
    )
    return result.x


def fisher_information(reference: Params, exposure: np.ndarray) -> np.ndarray:
    """Fisher information of log mu per cell (year, sex, age) at the reference: mu / (1 + dispersion mu)."""
    mu = _expected(reference, exposure)
    return mu / (1 + float(reference.dispersion) * mu)


def reference_fit(
    deaths: np.ndarray,
    exposure: np.ndarray,
    n_product: int,
    n_ratio: int,
    basis: np.ndarray,
    max_iterations: int = 3000,
    ratio_walk: bool = False,
) -> Params:
    """Poisson maximum likelihood of the product-ratio model (Brouhns et al. 2002 for two sexes), L-BFGS,
    with loadings b = beta @ basis.T (basis (age, node), `loading_basis`).

    deaths, exposure: (year, sex, age) counts and person-years. The estimates come out in the model's
    normalisation (`normalise_components`). Time-series parameters: phi by least squares on the ML ratio
    indices (clipped to +-0.95), drift, sigma and tau by empirical Bayes (`empirical_bayes_scales`, which
    discounts the sampling noise of the ML indices), dispersion by moments of the Pearson residuals.
    `ratio_walk`: the ratio indices are random walks without drift, marked by phi = 1 (`is_ratio_walk`).
    The result seeds and preconditions NUTS and fixes the identification (`identification`).
    """
    log_m = filled_log_rates(deaths, exposure)
    log_p, log_r = 0.5 * (log_m[:, 0] + log_m[:, 1]), 0.5 * (log_m[:, 1] - log_m[:, 0])
    starts = [*_svd_start(log_p, n_product), *_svd_start(log_r, n_ratio)]
    to_beta = np.linalg.pinv(basis)
    starts[1], starts[4] = starts[1] @ to_beta.T, starts[4] @ to_beta.T
    shapes = [x.shape for x in starts]
    splits = np.cumsum([x.size for x in starts])[:-1]
    total_deaths = deaths.sum()

    def unpack(theta: Array) -> list[Array]:
        parts = [part.reshape(shape) for part, shape in zip(jnp.split(theta, splits), shapes, strict=True)]
        parts[1], parts[4] = parts[1] @ basis.T, parts[4] @ basis.T
        return parts

    def loss(theta: Array) -> Array:
        a_p, b_p, k_p, a_r, b_r, k_r = unpack(theta)
        log_mu = jnp.log(exposure) + product_ratio_log_rates(a_p, b_p, k_p, a_r, b_r, k_r)
        ridge = 1e-6 * (jnp.sum(b_p**2) + jnp.sum(k_p**2) + jnp.sum(b_r**2) + jnp.sum(k_r**2))
        return jnp.sum(jnp.exp(log_mu) - deaths * log_mu) / total_deaths + ridge

    with jax.enable_x64(True):
        theta = _lbfgs(loss, np.concatenate([x.ravel() for x in starts]), max_iterations)
        a_p, b_p, k_p, a_r, b_r, k_r = (np.asarray(x) for x in unpack(jnp.asarray(theta)))
    a_p, a_r = a_p + b_p.T @ k_p.mean(1), a_r + b_r.T @ k_r.mean(1)
    k_p, k_r = k_p - k_p.mean(1, keepdims=True), k_r - k_r.mean(1, keepdims=True)
    weights = age_weights(Params(a_p, b_p, k_p, a_r, b_r, k_r, *[None] * 5), exposure)
    b_p, k_p = normalise_components(b_p, k_p, weights, first_mean_one=True)
    b_r, k_r = normalise_components(b_r, k_r, weights, first_mean_one=False)

    mu = exposure * np.exp(np.asarray(product_ratio_log_rates(a_p, b_p, k_p, a_r, b_r, k_r)))
    dispersion = np.asarray(max(float(((deaths - mu) ** 2 - mu).sum() / (mu**2).sum()), 1e-4))
    if ratio_walk:
        phi = np.ones(n_ratio)
    else:
        phi = np.clip((k_r[:, 1:] * k_r[:, :-1]).sum(1) / (k_r[:, :-1] ** 2).sum(1), -0.95, 0.95)
    partial = Params(a_p, b_p, k_p, a_r, b_r, k_r, None, None, phi, None, dispersion)
    info = fisher_information(partial, exposure).sum(1)  # (year, age)
    drift, sigma = empirical_bayes_scales(k_p, np.einsum("tx,ix->it", info, b_p**2), None)
    info_r = np.einsum("tx,jx->jt", info, b_r**2)
    _, tau = empirical_bayes_scales(k_r, info_r, None if ratio_walk else phi, drift=False)
    return partial._replace(drift=drift, sigma=sigma, tau=tau)


def identification(reference: Params, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Constraint directions (component, age, n_components) of b_p and b_r, from the reference fit and
    the age weights w (`age_weights`, expected deaths by age).

    Component i of b keeps c_i . b_i and (w u_l) . b_i (l != i) at their reference values, where u_l
    are the reference loadings: 0 for l != i, a w-weighted orthogonality that removes rotations between
    components; c_1 = w for the product (b_p1 keeps a death-weighted mean of 1, k_p1 is the
    death-weighted mean log-rate index) and c_i = w u_i otherwise (a fixed weighted scale, and with its
    positive value no sign flips). Weighting by deaths pins the scale of each component where the data
    are precise, so the imprecise ages cannot trade scale with k along a ridge.
    """

    def directions(b: np.ndarray, first_is_mean: bool) -> np.ndarray:
        weighted = weights * b / np.linalg.norm(weights * b, axis=1, keepdims=True)
        out = []
        for i in range(b.shape[0]):
            own = weights / np.linalg.norm(weights) if (i == 0 and first_is_mean) else weighted[i]
            out.append(np.stack([own, *np.delete(weighted, i, axis=0)], axis=-1))
        return np.asarray(out)

    return directions(np.asarray(reference.b_p), True), directions(np.asarray(reference.b_r), False)


def constraint_basis(scale: np.ndarray, directions: np.ndarray) -> np.ndarray:
    """Orthonormal basis (..., n, c) of the columns of scale[..., None] * directions (..., n, c): a vector
    ref + scale * (v - Q Q^T v) keeps directions^T(.) = directions^T ref for every v."""
    return np.linalg.qr(np.asarray(scale)[..., None] * np.asarray(directions))[0]


class Frame(NamedTuple):
    """What the coherent model needs besides data, all derived from the reference fit (`make_frame`).

    reference: ML estimates (`reference_fit`). loadings: `loading_basis` (age, node); beta_p, beta_r:
    the reference b at the nodes (b = beta @ loadings.T). scale: rough posterior sds (the units of
    NUTS's coordinates) of beta (fields b_p, b_r; Fisher information) and of the scalars (drift; log
    sigma, atanh phi, log tau, log sqrt(dispersion)). level_scale: (sex, age) those of each sex's level
    a_p -/+ a_r. basis_b_p, basis_b_r: `constraint_basis` of the identification. index_p, index_r:
    `IndexCoordinates` of the time indices.
    """

    reference: Params
    scale: Params
    level_scale: np.ndarray
    loadings: np.ndarray
    beta_p: np.ndarray
    beta_r: np.ndarray
    basis_b_p: np.ndarray
    basis_b_r: np.ndarray
    index_p: IndexCoordinates
    index_r: IndexCoordinates


def make_frame(reference: Params, exposure: np.ndarray) -> Frame:
    """The model frame from the reference estimates and exposures (year, sex, age) person-years;
    deterministic, so a stored fit can rebuild it (`frame_from_idata`)."""
    n_years = reference.k_p.shape[1]
    info = fisher_information(reference, exposure)
    by_year_age = info.sum(1)
    info_k_p = np.einsum("tx,ix->it", by_year_age, reference.b_p**2)
    info_k_r = np.einsum("tx,jx->jt", by_year_age, reference.b_r**2)
    phi = np.asarray(reference.phi)
    walk = is_ratio_walk(reference)
    loadings = loading_basis(np.arange(np.shape(reference.a_p)[0]))
    squares = loadings**2
    scale = Params(
        a_p=None,
        b_p=1 / np.sqrt(np.einsum("tx,it,xn->in", by_year_age, reference.k_p**2, squares)),
        k_p=None,
        a_r=None,
        b_r=1 / np.sqrt(np.einsum("tx,jt,xn->jn", by_year_age, reference.k_r**2, squares)),
        k_r=None,
        drift=np.asarray(reference.sigma) / math.sqrt(n_years - 1),
        sigma=np.full(np.shape(reference.sigma), 1 / math.sqrt(2 * (n_years - 1))),
        phi=np.ones_like(phi) if walk else 1 / np.sqrt(n_years * (1 - phi**2)),
        tau=np.full(np.shape(reference.tau), 1 / math.sqrt(2 * n_years)),
        dispersion=np.asarray(0.1),
    )
    dirs_p, dirs_r = identification(reference, age_weights(reference, exposure))
    to_beta = np.linalg.pinv(loadings)
    return Frame(
        reference,
        scale,
        1 / np.sqrt(info.sum(0)),
        loadings,
        np.asarray(reference.b_p) @ to_beta.T,
        np.asarray(reference.b_r) @ to_beta.T,
        constraint_basis(scale.b_p, np.einsum("xn,ixc->inc", loadings, dirs_p)),
        constraint_basis(scale.b_r, np.einsum("xn,ixc->inc", loadings, dirs_r)),
        index_coordinates(np.asarray(reference.k_p), info_k_p, np.asarray(reference.sigma), None),
        index_coordinates(
            np.asarray(reference.k_r), info_k_r, np.asarray(reference.tau), None if walk else phi
        ),
    )


def is_ratio_walk(reference: Params) -> bool:
    """Whether the reference's ratio indices are random walks (`reference_fit(ratio_walk=True)`: phi = 1)."""
    return bool(np.all(np.asarray(reference.phi) == 1.0))


def frame_from_idata(idata: az.InferenceData) -> Frame:
    """The model frame of a coherent fit, rebuilt from its stored reference estimates and exposures."""
    reference = Params(*(constant_values(idata, f"reference_{field}") for field in Params._fields))
    return make_frame(reference, constant_values(idata, "exposure"))
