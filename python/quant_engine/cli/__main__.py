"""``python -m quant_engine.cli``: the ``quant-engine`` command."""

import sys

from quant_engine.cli import main

sys.exit(main())
