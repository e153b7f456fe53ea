"""Regions: demographic accounts by region (`accounts`), origin-destination shares from in- and out-moves
(`destinations`), a replay of registered years through the kernel with a region axis (`replay`), and
internal migration estimated from regional populations (`internal`)."""
