"""``python -m cgtvigil.cli``."""

from cgtvigil.cli import main

main()
