"""Regions (SSB's BEFREG made stochastic): a region axis under the national paths.

What a regional run uses: the division of municipalities into regions (`divisions`: counties, SSB's
labour-market regions, a user's table), regional fertility and mortality level factors (`levels`), the
regions' shares of international migration (`immigration_shares`), internal migration between them
(`internal_model`), municipal shares of their region (`municipalities`), the labour-market panel behind
unemployment scenarios (`labour_panel`), all drawn per path by `model.RegionalModel` and projected under
each national path, adjusted to it, by `paths` (`projection.RegionalProjection`, a run's chunk function).

Their data and checks: demographic accounts by region (`accounts`), national rates on a region's basis and
the regional account (`estimated_rates`), Norway's county inputs (`norway_counties`), a replay of
registered years through the kernel with registered internal moves (`replay`) or net migration
(`net_replay`), internal migration estimated from populations by least squares (`internal`) and
origin-destination shares from in- and out-moves (`destinations`), used on Greenland's registered flows."""
