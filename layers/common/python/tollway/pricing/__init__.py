"""Prices: the price-file schema, metered usage, and the pure pricing engine."""

from tollway.pricing.engine import Cost, OutputBudget, cost_of, output_budget
from tollway.pricing.schema import LongContext, ModelPrice, PriceFile, TokenPrices, load_price_file, shipped_prices
from tollway.pricing.usage import Usage

__all__ = [
    "Cost",
    "LongContext",
    "ModelPrice",
    "OutputBudget",
    "PriceFile",
    "TokenPrices",
    "Usage",
    "cost_of",
    "load_price_file",
    "output_budget",
    "shipped_prices",
]
