"""Fit statistics as pure functions of counts and predicted counts (cash, cstat, wstat), their
chunked sums, and the counts statistics of an excess (Cash and WStat)."""

from .counts_statistic import (
    CashCountsStatistic,
    WStatCountsStatistic,
    cash_errn,
    cash_errp,
    cash_excess_matching_significance,
    cash_sqrt_ts,
    cash_ts,
    cash_upper_limit,
)
from .fit_statistics import TRUNCATION_VALUE, cash, cash_sum, cash_sum_blocks, cstat
from .wstat import wstat, wstat_gof_terms, wstat_mu_bkg, wstat_sum, wstat_sum_blocks

__all__ = [
    "TRUNCATION_VALUE",
    "CashCountsStatistic",
    "WStatCountsStatistic",
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
    "wstat",
    "wstat_gof_terms",
    "wstat_mu_bkg",
    "wstat_sum",
    "wstat_sum_blocks",
]
