"""The locks and the framework pin stay consistent with each other and with .env."""

import re
import subprocess
from pathlib import Path

from trading_runtime.pins import framework_pin

ROOT = Path(__file__).resolve().parent.parent


def _pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_framework_lock_pins_the_env_commit_and_agrees_with_the_main_lock() -> None:
    pin = framework_pin()
    framework_lock = (ROOT / "requirements-framework.txt").read_text()
    assert f"trading-platform @ git+{pin.repository}@{pin.commit}" in framework_lock.splitlines()
    main, framework = _pins(ROOT / "requirements.txt"), _pins(ROOT / "requirements-framework.txt")
    # The image's lock is the runtime part of the main lock, at the same versions.
    assert {"dagster", "dagster-k8s", "dagster-postgres", "hftbacktest", "s3fs"} <= set(framework)
    assert {name: main[name] for name in set(main) & set(framework)} == {
        name: framework[name] for name in set(main) & set(framework)
    }
    assert not {"pytest", "ruff", "mypy", "moto"} & set(framework)
    # trading-platform's own ranges at the pin.
    assert framework["numpy"].startswith(("2.0.", "2.1.", "2.2."))
    assert framework["pyarrow"].startswith("16.")


def test_the_commit_lives_in_one_place() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:  # not a git checkout (e.g. an sdist): nothing to check
        return
    commit = framework_pin().commit
    holders = sorted(
        name
        for name in tracked
        if (ROOT / name).is_file() and commit in (ROOT / name).read_text(errors="ignore")
    )
    assert holders == [".env", "requirements-framework.txt"]
