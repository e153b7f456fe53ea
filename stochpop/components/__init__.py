"""Bayesian component models (NumPyro): mortality, fertility, migration, and what they share."""
