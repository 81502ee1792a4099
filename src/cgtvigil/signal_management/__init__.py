"""Signal management (issue 15): signals from detection to decision, evidence, decisions and
electronic signatures (L3+).
"""
