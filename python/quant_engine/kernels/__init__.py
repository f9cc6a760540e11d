"""Numba kernels: array math over bars and chains (indicators, strategy evaluation, Greeks,
statistics) and reference kernels that verify the Rust core."""
