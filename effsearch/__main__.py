import sys

from effsearch.cli import main

try:
    sys.exit(main())
except KeyboardInterrupt:  # a second Ctrl-C while the first was being saved: still the documented status
    sys.exit(130)
