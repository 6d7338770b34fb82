"""What a backtest leaves behind: the result (``result``), what determined it (``provenance``),
its canonical form and content hash (``canonical``), the versioned store (``store``), and the
views computed from results: metrics, charts and the aggregate table."""

from trading_runtime.results.canonical import (
    NOT_CONTENT_FILES,
    canonical_file_hashes,
    canonical_record,
    canonical_record_digest,
    canonical_steps,
    canonical_unsafe_columns,
    content_hash,
    file_hashes,
    result_version,
)
from trading_runtime.results.provenance import (
    CODE_INPUTS,
    RESULT_INPUTS,
    RUNTIME_GIT_COMMIT_ENV,
    code_inputs,
    runtime_git_commit,
    strategy_source_hash,
)
from trading_runtime.results.result import BacktestResult, ResultIntegrityError

__all__ = [
    "CODE_INPUTS",
    "NOT_CONTENT_FILES",
    "RESULT_INPUTS",
    "RUNTIME_GIT_COMMIT_ENV",
    "BacktestResult",
    "ResultIntegrityError",
    "canonical_file_hashes",
    "canonical_record",
    "canonical_record_digest",
    "canonical_steps",
    "canonical_unsafe_columns",
    "code_inputs",
    "content_hash",
    "file_hashes",
    "result_version",
    "runtime_git_commit",
    "strategy_source_hash",
]
