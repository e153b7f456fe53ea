"""Readers for real data formats, the country container and the synthetic demo country."""

from stochpop.data.container import CountryData
from stochpop.data.demo import demo_country
from stochpop.data.errors import DataError
from stochpop.data.norway import load_country, shared_data_dir

__all__ = ["CountryData", "DataError", "demo_country", "load_country", "shared_data_dir"]
