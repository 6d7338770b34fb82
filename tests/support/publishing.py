"""Many processes publishing results of the same partitions at once, with a reader watching."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from upath import UPath

from trading_runtime.results import BacktestResult, ResultIntegrityError, content_hash

# One writer process: publishes each variant's staged copy to every partition, ``rounds`` times.
_WRITER = """
import shutil, sys, tempfile
from pathlib import Path
from upath import UPath
from trading_runtime.results.store import publish_result_files
base, scratch, rounds, offset = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
variants, partitions = sys.argv[5].split(","), sys.argv[6].split(",")
for i in range(rounds):
    for j, partition in enumerate(partitions):
        staging = Path(tempfile.mkdtemp(dir=scratch))
        shutil.copytree(variants[(i + j + offset) % len(variants)], staging, dirs_exist_ok=True)
        publish_result_files(staging, UPath(base) / partition)
"""


def make_variant(directory: Path, seed: int) -> str:
    """A staged result of random bytes whose result.json lists their hashes; its content hash."""
    directory.mkdir(parents=True)
    files = {}
    for name in ("curve.parquet", "stats.npz"):
        data = hashlib.sha256(f"{name}{seed}".encode()).digest() * 2048
        (directory / name).write_bytes(data)
        files[name] = hashlib.sha256(data).hexdigest()
    provenance = {"files": files, "content_hash": content_hash(files)}
    (directory / "result.json").write_text(json.dumps({"metrics": {}, "provenance": provenance}))
    return provenance["content_hash"]


@dataclass
class Watch:
    reads: int = 0
    problems: list[str] = field(default_factory=list)


def _watch(base: UPath, partitions: list[str], stop: threading.Event, watch: Watch) -> None:
    while not stop.is_set():
        for partition in partitions:
            try:
                result = BacktestResult.load(base / partition)
            except FileNotFoundError:
                continue  # nothing published yet
            except (ValueError, ResultIntegrityError) as exc:  # a pointer read half-written
                watch.problems.append(f"{partition}: {exc}")
                continue
            try:
                result.verify()  # a missing or different file is a ResultIntegrityError
                watch.reads += 1
            except ResultIntegrityError as exc:
                watch.problems.append(f"{partition}: {exc}")


def publish_concurrently(
    base: str, partitions: list[str], tmp: Path, writers: int, rounds: int
) -> tuple[set[str], Watch]:
    """Run ``writers`` processes publishing two variants to every partition while a reader
    verifies whatever the pointers name; the variants' content hashes and what the reader saw.
    Any writer error fails the call with its stderr."""
    hashes = {make_variant(tmp / f"variant-{i}", seed=i) for i in range(2)}
    variants = ",".join(str(tmp / f"variant-{i}") for i in range(2))
    scratch = tmp / "scratch"
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    stop, watch = threading.Event(), Watch()
    reader = threading.Thread(target=_watch, args=(UPath(base), partitions, stop, watch))
    reader.start()
    try:
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    _WRITER,
                    base,
                    str(scratch),
                    str(rounds),
                    str(w),
                    variants,
                    ",".join(partitions),
                ],
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for w in range(writers)
        ]
        errors = [p.communicate(timeout=300)[1] for p in processes]
    finally:
        stop.set()
        reader.join()
    failed = [e for p, e in zip(processes, errors, strict=True) if p.returncode != 0]
    assert not failed, failed[0]
    return hashes, watch
