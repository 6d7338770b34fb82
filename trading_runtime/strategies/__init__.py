"""Example strategies: one native hftbacktest (numba) market maker, one on trading-platform."""
