"""Private copies of a backtest's input files, made before they are hashed: the engine reads
exactly the bytes the result names.

The worker validates and hashes a part, compiles the strategy (seconds), and only then does the
engine open its files by path; a part rewritten in between used to be stored with the old
file's sha256 and the new file's metrics. So the worker first copies the part, its warm-up parts
and their order-latency files into a directory of its own beside the task's output
(``private_inputs_dir``), validates and hashes the copies, and hands the copies to the engine.
Nobody else writes there, so what was hashed is what is read. A hard link would not do: a file
rewritten in place changes every link to it. The copies are removed when the task ends (by the
worker, and by the parent when the worker was killed).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trading_runtime.config import LATENCY_DIR, BacktestConfig
from trading_runtime.data.files import NotRegularFileError, open_regular
from trading_runtime.data.part_info import PartValidationError
from trading_runtime.layout import part_key

__all__ = ["PrivateInputs", "copy_inputs", "private_inputs_dir"]

_CHUNK = 1 << 20


def private_inputs_dir(out_dir: Path) -> Path:
    """Where a task's private input copies go: beside its output directory, never inside it
    (everything in the output directory is part of the result)."""
    out_dir = Path(out_dir)
    return out_dir.with_name(f".{out_dir.name}.inputs")


@dataclass
class PrivateInputs:
    """The copies (scored part, warm-up parts in feeding order; latency files in ``latency/``
    beside them) and the original path of each copied file, for messages."""

    part: Path
    warmup: list[Path]
    originals: dict[str, str] = field(default_factory=dict)

    def named_originally(self, message: str) -> str:
        """``message`` with every copy's path replaced by its original's: errors name the user's
        files, not a scratch directory."""
        for copy in sorted(self.originals, key=len, reverse=True):
            message = message.replace(copy, self.originals[copy])
        return message


def _copy(source: Path, target: Path) -> None:
    """Copy a regular file (never a FIFO or device) to a new file."""
    try:
        with open_regular(source) as reader, open(target, "xb") as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)
    except (FileNotFoundError, NotRegularFileError) as exc:
        raise PartValidationError(f"part {exc}") from None


def copy_inputs(
    config: BacktestConfig, part_path: Path, warmup_paths: Sequence[Path], directory: Path
) -> PrivateInputs:
    """Copy the part, its warm-up parts and the latency files ``engine.latency`` reads for them
    into ``directory`` (created; it must not exist). A missing latency file is left out: the
    adapter reports it (``latency.latency_file_path``), naming the original place."""
    directory.mkdir(parents=True)
    (directory / LATENCY_DIR).mkdir()
    copies: list[Path] = []
    originals: dict[str, str] = {}
    for source in (*map(Path, warmup_paths), Path(part_path)):
        target = directory / source.name
        if target.exists():
            raise PartValidationError(
                f"part {source}: two inputs of one backtest are named {source.name}"
            )
        _copy(source, target)
        copies.append(target)
        originals[str(target)] = str(source)
        latency = config.engine.latency_file(part_key(source))
        if latency is None:
            continue
        latency_source = source.parent / LATENCY_DIR / latency
        latency_target = directory / LATENCY_DIR / latency
        originals[str(latency_target)] = str(latency_source)
        if not latency_target.exists() and latency_source.exists():
            _copy(latency_source, latency_target)
    return PrivateInputs(part=copies[-1], warmup=copies[:-1], originals=originals)
