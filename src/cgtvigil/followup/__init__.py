"""Long-term follow-up (issue 12): plans, visits, forms, the coordinator's work list, the
paediatric-to-adult transition, consent and retention (L3).
"""
