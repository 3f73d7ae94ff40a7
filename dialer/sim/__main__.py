"""`python -m dialer.sim --host 127.0.0.1 --port N [--profile FILE] [--log FILE]`."""

import sys

from dialer.sim.cli import main

if __name__ == "__main__":
    sys.exit(main())
