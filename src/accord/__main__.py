"""``python -m accord``."""

from accord.cli.app import main

main()
