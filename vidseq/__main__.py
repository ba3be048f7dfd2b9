"""`python -m vidseq` runs the command line."""

import sys

from vidseq.cli import main

sys.exit(main())
