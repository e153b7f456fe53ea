"""The coherent (product-ratio) Lee-Carter model in NumPyro: priors, likelihood, and the standardised
coordinates NUTS samples.

With m_s(x, t) the central death rate (deaths per person-year, age x in completed years, year t, sex
s = F, M), D deaths and E exposures (person-years) of ages 0..100:

    p = sqrt(m_M m_F),  r = sqrt(m_M / m_F)                   (so m_F = p / r, m_M = p r)
    log p(x,t) = a_p(x) + sum_i b_pi(x) k_pi(t)               i = 1..n_product (default 2, as SSB)
    log r(x,t) = a_r(x) + sum_j b_rj(x) k_rj(t)               j = 1..n_ratio   (default 1)
    D_s(x,t) ~ NegBin(mean E_s m_s, variance mean + dispersion mean^2)       (or Poisson)
    k_pi(t) = k_pi(t-1) + drift_i + sigma_i e_i(t)            random walk with drift, e ~ t(5) or N(0,1)
    k_rj(t) = phi_j k_rj(t-1) + tau_j u_j(t)                  stationary AR(1) around 0, |phi| < 1

The product (general level) trends; the ratio (the sex gap) reverts to its fitted-period mean exp(a_r),
so the sexes cannot diverge. Or, with random-walk ratios (`CoherentLeeCarter(ratio="walk")`),
    k_rj(t) = k_rj(t-1) + tau_j u_j(t)                        random walk without drift (phi = 1)
the sex gap keeps its jump-off level in expectation and its uncertainty grows with the horizon.
Loadings b are piecewise linear in age between `LOADING_NODES` (27 nodes,
dense at young ages; a smoothed Lee-Carter as in Delwarde, Denuit & Eilers 2007), levels a are free at
every age.

Identification (exact constraints, so NUTS cannot wander along rotations, rescalings or sign flips),
with w(x) the expected deaths by age at the ML reference fit and u_l that fit's loadings in SVD form:
    sum_t k(t) = 0 for every index (the level belongs to a; the AR(1) density is conditioned on it);
    b_p1 has w-weighted mean 1 (k_p1 is the death-weighted mean log-rate index);
    every other b_i has w-weighted mean square ~1, fixed as (w u_i) . b_i = its reference value > 0;
    (w u_l) . b_i = 0 for l != i: a linearised b_i _|_ b_l, which removes rotations. As in the SVD,
    a second product index is then ~orthogonal to the trending first one, so its drift is ~0.
Weighting by deaths pins each component's scale where the data are precise.

Priors: `log_prior`, and the indices' random walks and AR(1)s (`indices`).

Sampling (`natural_parameters`): NUTS runs on standardised coordinates - offsets from a Poisson ML
reference fit (`reference.reference_fit`) in units of Fisher-information sds for each sex's level
a_p -/+ a_r and for b at the nodes; log / atanh scales for sigma, tau, sqrt(dispersion), phi; and
partially non-centred coordinates for the indices (`indices.IndexCoordinates`: centred where the data pin
k down, non-centred where the prior does). All priors are put on natural values, so the posterior is
exactly the model's.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from stochpop.components.likelihoods import NegativeBinomialCounts
from stochpop.components.mortality.indices import (
    ar1_centred_log_density,
    index_from_coordinates,
    random_walk_log_density,
)
from stochpop.components.mortality.parameters import Params, product_ratio_log_rates
from stochpop.components.mortality.reference import Frame, is_ratio_walk

Array = jax.Array

DEFAULT_NU = 5.0
"""Student-t degrees of freedom of the product indices' innovations."""
LIKELIHOODS = ("negbin", "poisson")


def log_prior(params: Params, ratio_walk: bool = False) -> Array:
    """log prior density of the natural parameters except the time indices:

    a_p(x) ~ N(-5, 5), a_r(x) ~ N(0, 1), b_p1(x) ~ N(1, 2), other b(x) ~ N(0, 1) (they have rms 1;
    this also bounds the scale trade-off b_i k_i of weak components), drift_i ~ N(0, 0.1),
    sigma_i ~ HalfNormal(0.1), phi_j ~ U(-1, 1) (none for random-walk ratios: phi = 1),
    tau_j ~ HalfNormal(0.1); sqrt(dispersion) ~ HalfNormal(0.2) enters with its coordinate
    (`natural_parameters`).
    """
    b_p_mean = jnp.zeros_like(params.b_p).at[0].set(1.0)
    b_p_sd = jnp.ones_like(params.b_p).at[0].set(2.0)
    return (
        dist.Normal(-5.0, 5.0).log_prob(params.a_p).sum()
        + dist.Normal(0.0, 1.0).log_prob(params.a_r).sum()
        + dist.Normal(b_p_mean, b_p_sd).log_prob(params.b_p).sum()
        + dist.Normal(0.0, 1.0).log_prob(params.b_r).sum()
        + dist.Normal(0.0, 0.1).log_prob(params.drift).sum()
        + dist.HalfNormal(0.1).log_prob(params.sigma).sum()
        + dist.HalfNormal(0.1).log_prob(params.tau).sum()
        + (0.0 if ratio_walk else dist.Uniform(-1.0, 1.0).log_prob(params.phi).sum())
    )


@jax.jit
def expected_deaths(params: Params, exposure: Array) -> Array:
    """E m (year, sex, age) given the parameters and exposures (year, sex, age) person-years; 1 where there
    is no exposure (those cells are masked)."""
    log_m = product_ratio_log_rates(params.a_p, params.b_p, params.k_p, params.a_r, params.b_r, params.k_r)
    return jnp.where(exposure > 0, exposure * jnp.exp(log_m), 1.0)


def death_distribution(params: Params, exposure: Array, likelihood: str) -> dist.Distribution:
    """Counts (year, sex, age) given the parameters: negative binomial (mean E m, variance mean +
    dispersion mean^2; `likelihoods.NegativeBinomialCounts`) or Poisson; cells without exposure are
    masked out."""
    at_risk = exposure > 0
    mean = expected_deaths(params, exposure)
    if likelihood == "negbin":
        counts = NegativeBinomialCounts(mean, 1.0 / params.dispersion)
    else:
        counts = dist.Poisson(mean)
    return counts.mask(at_risk).to_event(3)


def coordinate_shapes(frame: Frame, likelihood: str) -> dict[str, tuple[int, ...]]:
    """Shapes of the model's standardised coordinates (see `natural_parameters`); the dispersion only
    for the negative binomial likelihood, phi only for stationary ratios."""
    ref = frame.reference
    n_product, n_ages = np.shape(ref.b_p)
    n_ratio = np.shape(ref.b_r)[0]
    n_steps = np.shape(ref.k_p)[1] - 1
    n_nodes = frame.loadings.shape[1]
    return {
        "level": (2, n_ages),
        "b_p": (n_product, n_nodes),
        "b_r": (n_ratio, n_nodes),
        "k_p": (n_product, n_steps),
        "k_r": (n_ratio, n_steps),
        "drift": (n_product,),
        "sigma": (n_product,),
        **({} if is_ratio_walk(ref) else {"phi": (n_ratio,)}),
        "tau": (n_ratio,),
        **({"dispersion": ()} if likelihood == "negbin" else {}),
    }


def _constrained(
    reference: Array | np.ndarray, scale: Array, basis: Array | np.ndarray, z: Array
) -> tuple[Array, Array]:
    """reference + scale * (z with its `basis` part removed), and a N(0, 1) log density for the removed
    part (it does not change the result, so this keeps the posterior proper). The result meets the
    identification constraints exactly."""
    along = jnp.einsum("...nc,...n->...c", basis, z)
    value = jnp.add(reference, scale * (z - jnp.einsum("...nc,...c->...n", basis, along)))
    return value, dist.Normal().log_prob(along).sum()


@partial(jax.jit, static_argnames=("nu",))
def natural_parameters(coords: dict[str, Array], frame: Frame, nu: float | None) -> tuple[Params, Array]:
    """The model's parameters from its standardised coordinates (`coordinate_shapes`), and the log prior
    density of the coordinates (`log_prior`, the indices' random walks / AR(1)s, log-Jacobians). A pure
    transform.

    Coordinates: the sexes' levels a_p -/+ a_r (nearly independent a posteriori, unlike a_p and a_r
    where the sexes' deaths differ) and b at the `LOADING_NODES` as offsets from the reference in units
    of their Fisher sd (projected onto the identification constraints); drift, and log sigma, atanh
    phi, log tau, log sqrt(dispersion) as offsets likewise; the time indices in partially non-centred
    coordinates (`IndexCoordinates`).
    """
    ref, sc = frame.reference, frame.scale
    reference_levels = jnp.stack([ref.a_p - ref.a_r, ref.a_p + ref.a_r])
    levels = reference_levels + frame.level_scale * coords["level"]
    beta_p, log_fixed_p = _constrained(frame.beta_p, sc.b_p, frame.basis_b_p, coords["b_p"])
    beta_r, log_fixed_r = _constrained(frame.beta_r, sc.b_r, frame.basis_b_r, coords["b_r"])
    b_p, b_r = beta_p @ frame.loadings.T, beta_r @ frame.loadings.T
    drift = ref.drift + sc.drift * coords["drift"]
    log_sigma = jnp.log(ref.sigma) + sc.sigma * coords["sigma"]
    log_tau = jnp.log(ref.tau) + sc.tau * coords["tau"]
    if "dispersion" in coords:
        log_cv = 0.5 * jnp.log(ref.dispersion) + sc.dispersion * coords["dispersion"]
        dispersion, log_jac_cv = jnp.exp(2 * log_cv), log_cv + dist.HalfNormal(0.2).log_prob(jnp.exp(log_cv))
    else:  # Poisson
        dispersion, log_jac_cv = jnp.zeros(()), 0.0
    sigma, tau = jnp.exp(log_sigma), jnp.exp(log_tau)
    walk = "phi" not in coords  # random-walk ratios (`coordinate_shapes`): phi = 1
    phi = jnp.ones_like(tau) if walk else jnp.tanh(jnp.arctanh(ref.phi) + sc.phi * coords["phi"])
    k_p, log_jac_k_p = index_from_coordinates(coords["k_p"], drift, sigma, frame.index_p)
    k_r, log_jac_k_r = index_from_coordinates(coords["k_r"], jnp.zeros_like(tau), tau, frame.index_r)
    a_p, a_r = 0.5 * (levels[0] + levels[1]), 0.5 * (levels[1] - levels[0])
    params = Params(a_p, b_p, k_p, a_r, b_r, k_r, drift, sigma, phi, tau, dispersion)
    log_density = (
        log_prior(params, walk)
        + random_walk_log_density(k_p, drift, sigma, nu)
        + (
            random_walk_log_density(k_r, jnp.zeros_like(tau), tau, None)
            if walk
            else ar1_centred_log_density(k_r, phi, tau)
        )
        + log_fixed_p
        + log_fixed_r
        + log_sigma.sum()
        + log_tau.sum()
        + log_jac_cv
        + (0.0 if walk else jnp.log1p(-(phi**2)).sum())
        + log_jac_k_p
        + log_jac_k_r
    )
    return params, log_density


def coherent_lee_carter_model(
    frame: Frame,
    exposure: Array,
    deaths: Array | None = None,
    nu: float | None = DEFAULT_NU,
    likelihood: str = "negbin",
) -> None:
    """The coherent (product-ratio) Lee-Carter model: equations in the module docstring, priors in
    `log_prior`. exposure, deaths: (year, sex, age) person-years and counts; nu: Student-t degrees of
    freedom of the product innovations (None: normal); likelihood "negbin" or "poisson".

    NUTS samples the standardised coordinates of `natural_parameters` (sites "<name>_z", flat priors;
    the model's log prior enters as a factor, so the posterior is exactly the model's). Natural
    parameters are recorded as deterministic sites.
    """
    coords = {
        name: numpyro.sample(f"{name}_z", dist.ImproperUniform(constraints.real, (), shape))
        for name, shape in coordinate_shapes(frame, likelihood).items()
    }
    params, log_density = natural_parameters(coords, frame, nu)
    for name, value in params._asdict().items():
        numpyro.deterministic(name, value)
    numpyro.factor("prior", log_density)
    numpyro.sample("deaths", death_distribution(params, exposure, likelihood), obs=deaths)
