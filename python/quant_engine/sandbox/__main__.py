"""``python -m quant_engine.sandbox theta|massive ...`` (see :mod:`quant_engine.sandbox.runner`)."""

import sys

from quant_engine.sandbox.runner import main

sys.exit(main())
