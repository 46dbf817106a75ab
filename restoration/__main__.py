"""``python -m restoration`` = the ``restoration`` console script."""
import sys

from restoration.cli import main

sys.exit(main())
