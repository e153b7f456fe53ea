"""Migration components: net migration (cohort residual) and gross flows (immigration, emigration).

Both are a *level* process over years times an *age-sex schedule* (one time index, one age pattern, as in
Lee-Carter), fitted by NUTS (`stochpop.components.fitting.fit_model`) and forecast by running the level
process forward for every posterior draw at once.

* `NetMigrationModel` (`net_model`): total net migration T_t (thousands) is a stationary AR(1) with
  Student-t shocks; cells are T_t times a schedule w(sex, age) that sums to one and may be negative at
  some ages.
* `GrossMigrationModel` (`gross_model`): immigration counts are exp(l_t) thousand times a positive
  (softmax) schedule, Poisson, l_t an AR(1) with Student-t shocks; emigration is a yearly hazard
  exp(lambda_t + g(sex, age)) on the population at risk, Poisson counts, lambda_t an AR(1) with normal
  shocks.

Schedules are cubic B-splines in age (`schedules`). Level priors are stated per 1000 residents (`unit` =
thousands of persons per 1 per mille of the population at the end of the fit period), so the defaults suit
a country of any size.

Layout, in the order data flows: `schedules` (age bases, constrained schedule designs), `inputs` (fit
years, population, what a fit stores), `net_model` and `gross_model` (NumPyro models, their fixed inputs
and data-generating processes), `paths` (forecast level paths, the labelled forecast), `checks` (posterior
predictive checks), then the components `net` and `gross`.
"""

from stochpop.components.migration.gross import GrossMigrationModel
from stochpop.components.migration.gross_model import (
    GROSS_SCALARS,
    gross_migration_model,
    simulate_gross_flows,
)
from stochpop.components.migration.net import NetMigrationModel
from stochpop.components.migration.net_model import NET_SCALARS, net_migration_model, simulate_net_migration
from stochpop.components.migration.schedules import age_basis, schedule_knots

__all__ = [
    "GROSS_SCALARS",
    "NET_SCALARS",
    "GrossMigrationModel",
    "NetMigrationModel",
    "age_basis",
    "gross_migration_model",
    "net_migration_model",
    "schedule_knots",
    "simulate_gross_flows",
    "simulate_net_migration",
]
