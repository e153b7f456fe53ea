"""Regions: demographic accounts by region (`accounts`), origin-destination shares from in- and out-moves
(`destinations`), a replay of registered years through the kernel with a region axis and registered
internal moves (`replay`) or net migration (`net_replay`), internal migration estimated from regional
populations (`internal`), national rates on a region's basis (`estimated_rates`), regional fertility and
mortality level factors (`levels`), Norway's county inputs (`norway_counties`), the labour-market panel of
net internal migration (`labour_panel`), and regional paths adjusted to each national path (`paths`)."""
