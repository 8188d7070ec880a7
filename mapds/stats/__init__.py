"""Fit statistics as pure functions of counts and predicted counts, and their chunked sums."""

from .counts_statistic import CashCountsStatistic
from .fit_statistics import TRUNCATION_VALUE, cash, cash_sum, cash_sum_blocks, cstat

__all__ = ["TRUNCATION_VALUE", "CashCountsStatistic", "cash", "cash_sum", "cash_sum_blocks", "cstat"]
