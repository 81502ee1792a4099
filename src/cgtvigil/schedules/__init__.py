"""Pure date maths of follow-up schedules (issue 12): visit windows, ages and milestones (L1)."""
