"""Fit statistics as pure functions of counts and predicted counts, and their chunked sums."""

from .counts_statistic import (
    CashCountsStatistic,
    cash_errn,
    cash_errp,
    cash_excess_matching_significance,
    cash_sqrt_ts,
    cash_ts,
    cash_upper_limit,
)
from .fit_statistics import TRUNCATION_VALUE, cash, cash_sum, cash_sum_blocks, cstat

__all__ = [
    "TRUNCATION_VALUE",
    "CashCountsStatistic",
    "cash",
    "cash_errn",
    "cash_errp",
    "cash_excess_matching_significance",
    "cash_sqrt_ts",
    "cash_sum",
    "cash_sum_blocks",
    "cash_ts",
    "cash_upper_limit",
    "cstat",
]
