"""Numba kernels: array math over bars and chains (indicators, strategy evaluation, Greeks,
statistics) and reference kernels that verify the Rust core.

Parallel kernels run on Numba's threading layer. On a shared, oversubscribed machine the OpenMP
layer's default busy-waiting turns every parallel launch into a scheduler time slice (several
ms); quant-engine therefore defaults ``OMP_WAIT_POLICY`` to ``passive`` (set it before importing
quant-engine to choose otherwise).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
