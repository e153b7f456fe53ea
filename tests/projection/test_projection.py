"""Rate sets with a draw dim: every path equals the single-path projection with its own rates."""

import xarray as xr

from stochpop.data.demo import demo_country
from stochpop.projection.deterministic import held_rates
from stochpop.projection.labelled import project_rates


def test_paths_equal_single_projections():
    demo = demo_country(seed=1)
    base = held_rates(demo, 2025, 15, migration="net")
    scale = xr.DataArray([0.8, 1.0, 1.3], dims="draw")
    rates = base.assign(fertility=base["fertility"] * scale, net_migration=base["net_migration"] * scale)
    initial = demo.population.sel(year=2025)
    paths = project_rates(initial, rates, 2025, 15)
    assert paths["population"].dims == ("year", "draw", "sex", "age")
    for i, s in enumerate(scale.values):
        single = project_rates(
            initial,
            base.assign(fertility=base["fertility"] * s, net_migration=base["net_migration"] * s),
            2025,
            15,
        )
        xr.testing.assert_allclose(paths.isel(draw=i, drop=True), single, rtol=1e-12)
    births = paths["births"].sum("sex").isel(event_year=0).values
    assert births[0] < births[1] < births[2]
