"""``python -m fundingflow``."""

import sys

from fundingflow.cli import main

sys.exit(main())
