"""`python -m integrated_care` is the `ics` command."""

from integrated_care.cli import main

main()
