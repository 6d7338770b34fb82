"""A strategy module whose import rewrites a part file in place: an unlucky operator (or a sync
tool) rewriting a part while its backtest starts. Workers import strategy modules while they
prepare a backtest (after the part was validated and hashed, before the engine reads it), so
``REWRITE_ON_IMPORT_ENV`` = ``<source>=><target>`` copies source's bytes over target there."""

import os
import shutil

from trading_runtime.strategies.market_maker import market_maker as strategy

__all__ = ["REWRITE_ON_IMPORT_ENV", "strategy"]

REWRITE_ON_IMPORT_ENV = "TRADING_RUNTIME_TEST_REWRITE_ON_IMPORT"

if os.environ.get(REWRITE_ON_IMPORT_ENV):
    source, target = os.environ[REWRITE_ON_IMPORT_ENV].split("=>")
    shutil.copyfile(source, target)  # same inode, new bytes
