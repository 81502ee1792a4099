"""Pure clonal-diversity maths for integration-site data (issue 12): diversity indexes, common
insertion sites, expansion (L1).
"""
