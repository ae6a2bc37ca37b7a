"""`python -m sweeps`: list the families, activations, model builders and datasets (sweeps.engine.listing)."""

import sys

from sweeps.engine.listing import main

sys.exit(main())
