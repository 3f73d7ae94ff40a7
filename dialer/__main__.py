"""`python -m dialer` = the `dialer` command."""

from dialer.cli import main

main()
