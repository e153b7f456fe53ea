"""stochpop: stochastic cohort-component population projection."""

__version__ = "0.1.0"
