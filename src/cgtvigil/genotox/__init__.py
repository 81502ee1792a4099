"""Genotoxicity follow-up (issue 12): integration sites, clonal abundance, common insertion sites,
vector copy number and off-target results (L3).
"""
