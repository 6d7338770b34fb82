"""Child scenarios that prepare the benchmark's parts: generate (cached) and screen."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.measure import BenchmarkError
from benchmarks.scenarios.common import Spec, close_worker_pools, part_tasks


def child_generate(spec: Spec) -> dict[str, Any]:
    """Generate parts for a spec into a cache directory (atomically); reuse a complete one."""
    from trading_runtime.data.generate import GeneratorSpec, generate_parts

    target = Path(spec["target"])
    gen_spec = GeneratorSpec(parts=spec["parts"], events=spec["events"], seed=spec["seed"])
    marker = target / ".spec.json"
    wanted = json.dumps(asdict(gen_spec), sort_keys=True)
    if marker.is_file() and marker.read_text() == wanted:
        return {"generated": False, "seconds": 0.0}
    scratch = Path(tempfile.mkdtemp(prefix=".generating-", dir=target.parent))
    started = time.perf_counter()
    generate_parts(gen_spec, scratch)
    elapsed = time.perf_counter() - started
    (scratch / ".spec.json").write_text(wanted)
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
    return {"generated": True, "seconds": elapsed}


def child_screen(spec: Spec) -> dict[str, Any]:
    """Run the port once over the generated parts; link the first ``wanted`` that succeed into
    ``target`` (the benchmark's parts directory) and report the ones that fail."""
    from trading_runtime.backtest.fan_out import backtest_tasks
    from trading_runtime.config import example_config_path, load_config

    config = load_config(example_config_path("hftbacktest"))
    source, target, work = Path(spec["source"]), Path(spec["target"]), Path(spec["work"])
    tasks = part_tasks(source, work / "screen")
    outcomes = backtest_tasks(config, tasks, timeout_s=spec["timeout_s"], workers=spec["workers"])
    close_worker_pools()
    shutil.rmtree(work / "screen", ignore_errors=True)
    failed = {
        k: f"{type(v).__name__}: {v}" for k, v in outcomes.items() if isinstance(v, Exception)
    }
    selected = [t for t in tasks if t.partition not in failed][: spec["wanted"]]
    if len(selected) < spec["wanted"]:
        raise BenchmarkError(f"only {len(selected)} of {len(tasks)} parts backtest: {failed}")
    target.mkdir(parents=True)
    for task in selected:
        (target / task.part_path.name).symlink_to(task.part_path)
    return {"failed": failed, "selected": [t.partition for t in selected], "screened": len(tasks)}
