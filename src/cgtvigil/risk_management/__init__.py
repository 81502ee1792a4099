"""Risk management (issue 15): the risk register, EU RMP measures and US REMS elements, alignment
and effectiveness indicators (L3+).
"""
