"""The Dockerfile and .dockerignore, checked without a Docker engine: stages, build args, labels,
the user, every file the build copies, and the framework-pin check run for real in bash."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from trading_runtime.pins import framework_pin

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
BASE_IMAGE = "python:3.11-slim-bookworm"
SHA_CHECK_MARKER = "TRADING_PLATFORM_COMMIT must be a full 40-character"


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[dict[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [i["value"] for i in self.instructions if i["instruction"] == instruction]

    def args(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for value in self.values("ARG"):
            name, sep, default = value.partition("=")
            found[name] = default if sep else None
        return found

    def key_values(self, instruction: str) -> dict[str, str]:
        """LABEL/ENV pairs (``k=v`` form), quotes removed."""
        pairs: dict[str, str] = {}
        for value in self.values(instruction):
            for key, val in re.findall(r'([\w.\-]+)=("[^"]*"|\S*)', value):
                pairs[key] = val.strip('"')
        return pairs


def stages() -> dict[str, Stage]:
    parsed: dict[str, Stage] = {}
    current: Stage | None = None
    for instruction in DockerfileParser(path=str(DOCKERFILE)).structure:
        if instruction["instruction"] == "FROM":
            base, _, name = instruction["value"].partition(" AS ")
            current = Stage(name=name.strip(), base=base.strip())
            parsed[current.name] = current
        elif current is not None:
            current.instructions.append(instruction)
    return parsed


def copy_sources(stage: Stage) -> list[str]:
    """Build-context sources of the stage's COPY instructions (not --from= copies)."""
    sources: list[str] = []
    for value in stage.values("COPY"):
        words = value.split()
        if any(word.startswith("--from=") for word in words):
            continue
        sources += [word for word in words[:-1] if not word.startswith("--")]
    return sources


# ------------------------------------------------------------------ .dockerignore semantics


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's pattern syntax (Go filepath.Match plus ``**``) as a regex."""
    out = ""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):  # any depth, including none
            out += "(.*/)?"
            i += 3
            continue
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            continue
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(char)
        i += 1
    return re.compile(f"^{out}$")


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").lstrip("/"))
        rules.append((negated, _pattern_regex(pattern)))
    return rules


def is_excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for negated, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def context_files(rules: list[tuple[bool, re.Pattern[str]]]) -> list[str]:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    if not tracked:  # not a git checkout: every file under the root
        tracked = [str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.is_file()]
    return sorted(path for path in tracked if not is_excluded(path, rules))


# ------------------------------------------------------------------------------ the tests


def test_matcher_follows_docker_semantics() -> None:
    # The checks below are only as good as this matcher; pin its behaviour on the tricky cases.
    rules = [(False, _pattern_regex("*")), (True, _pattern_regex("data/parts"))]
    rules.append((False, _pattern_regex("**/__pycache__")))
    assert is_excluded("results/x.parquet", rules)
    assert is_excluded("data/other.npz", rules)
    assert not is_excluded("data/parts/part-00000.npz", rules)
    assert is_excluded("data/parts/__pycache__/x.pyc", rules)
    assert _pattern_regex("**/__pycache__").match("__pycache__")
    assert _pattern_regex("**/*.py[cod]").match("a/b/c.pyc")
    assert not _pattern_regex("*.py").match("a/b.py")


def test_two_stages_on_the_same_pinned_python_base() -> None:
    parsed = stages()
    assert list(parsed) == ["builder", "runtime"]
    # Same base in both: the copied venv links to the runtime stage's interpreter. The official
    # image by default (kaniko, production); scripts/build-image.sh passes a local base.
    assert {stage.base for stage in parsed.values()} == {"${BASE_IMAGE}"}
    global_args = [
        i["value"]
        for i in DockerfileParser(path=str(DOCKERFILE)).structure
        if i["instruction"] == "ARG" and i["startline"] < _first_from_line()
    ]
    assert global_args == [f"BASE_IMAGE={BASE_IMAGE}"]


def _first_from_line() -> int:
    structure = DockerfileParser(path=str(DOCKERFILE)).structure
    return min(int(i["startline"]) for i in structure if i["instruction"] == "FROM")


def test_build_args_and_defaults() -> None:
    parsed = stages()
    builder, runtime = parsed["builder"].args(), parsed["runtime"].args()
    # Required: no default, so a build that forgets it fails in the check below.
    assert builder["TRADING_PLATFORM_COMMIT"] is None
    assert runtime["TRADING_PLATFORM_COMMIT"] is None
    assert builder["TRADING_PLATFORM_REPO"] == runtime["TRADING_PLATFORM_REPO"]
    assert builder["TRADING_PLATFORM_REPO"] == framework_pin().repository
    assert {"GIT_COMMIT", "GIT_BRANCH"} <= set(runtime)
    # The framework is in unless a build says otherwise, in both stages.
    assert builder["INSTALL_FRAMEWORK"] == runtime["INSTALL_FRAMEWORK"] == "true"
    # The pin lives in .env and the lock only (tests/test_locks.py); never in the Dockerfile.
    assert framework_pin().commit not in DOCKERFILE.read_text()


def test_builder_installs_the_framework_lock_then_the_package_without_deps() -> None:
    builder, runtime = stages()["builder"], stages()["runtime"]
    runs = builder.values("RUN")
    # requirements-image.txt: written by the SHA check from the lock (see the tests below).
    lock_install = next(i for i, run in enumerate(runs) if "-r requirements-image.txt" in run)
    package_wheel = next(i for i, run in enumerate(runs) if "wheel --no-deps" in run)
    sha_check = next(i for i, run in enumerate(runs) if SHA_CHECK_MARKER in run)
    assert sha_check < lock_install < package_wheel
    assert any("git" in run.split() for run in runs[:lock_install])  # pip clones the framework
    assert builder.key_values("ENV")["PIP_NO_CACHE_DIR"] == "1"
    lock = (ROOT / "requirements-framework.txt").read_text().splitlines()
    assert framework_pin().requirement in lock
    # The runtime stage installs the wheel into the copied venv without resolving, then checks.
    (install,) = [run for run in runtime.values("RUN") if "install --no-deps" in run]
    assert "/tmp/wheels/*.whl" in install
    assert "pip check" in install
    assert "import trading_runtime.definitions" in install


def test_commit_specific_layers_come_after_the_heavy_ones() -> None:
    # A new commit must not invalidate the ~2 GB venv layer: args naming it come after it.
    instructions = stages()["runtime"].instructions
    position = {(i["instruction"], i["value"].split("=")[0]): n for n, i in enumerate(instructions)}
    venv_copy = position[("COPY", "--from")]
    for arg in ("GIT_COMMIT", "GIT_BRANCH", "TRADING_PLATFORM_COMMIT"):
        assert position[("ARG", arg)] > venv_copy, arg


def test_builder_copies_what_setuptools_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {"pyproject.toml", project["readme"], *project["license-files"], "trading_runtime"}
    assert needed <= set(copy_sources(stages()["builder"]))


def test_runtime_stage_labels_env_user_and_command() -> None:
    runtime = stages()["runtime"]
    labels = runtime.key_values("LABEL")
    assert labels["org.opencontainers.image.revision"] == "${GIT_COMMIT}"
    assert labels["org.opencontainers.image.version"] == "${GIT_COMMIT}"
    assert labels["org.opencontainers.image.source"].startswith("https://github.com/")
    assert labels["io.trading-runtime.framework-commit"] == "${TRADING_PLATFORM_COMMIT}"
    assert labels["io.trading-runtime.framework-installed"] == "${INSTALL_FRAMEWORK}"

    env = runtime.key_values("ENV")
    assert env["TRADING_RUNTIME_GIT_COMMIT"] == "${GIT_COMMIT}"
    assert env["TRADING_RUNTIME_GIT_BRANCH"] == "${GIT_BRANCH}"
    assert env["TRADING_PLATFORM_COMMIT"] == "${TRADING_PLATFORM_COMMIT}"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    # Left to Helm/Argo, which set it with the object-store URLs that k8s requires.
    assert "TRADING_RUNTIME_ENV" not in env

    (user,) = runtime.values("USER")
    uid, _, gid = user.partition(":")
    assert uid == gid == "10001"  # numeric, non-root: runAsNonRoot can be verified
    assert runtime.values("WORKDIR") == ["/app"]
    # Writable by the app user: local results under /app, Dagster's files under DAGSTER_HOME.
    assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
    assert any(
        "install -d -o 10001 -g 10001 /app /opt/dagster/dagster_home" in run
        for run in runtime.values("RUN")
    )
    # An ENTRYPOINT would be prefixed to the chart's and the launcher's `dagster api ...` args.
    assert runtime.values("ENTRYPOINT") == []
    assert runtime.values("CMD") == ['["trading-runtime", "--help"]']
    assert "--from=builder /opt/venv /opt/venv" in runtime.values("COPY")


def test_entrypoints_the_cluster_calls_are_installed_scripts() -> None:
    # Helm runs `dagster api grpc`, Argo `trading-runtime`; both must be console scripts on PATH.
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "trading-runtime" in scripts
    dagster_scripts = {ep.name for ep in metadata.distribution("dagster").entry_points}
    assert "dagster" in dagster_scripts


def test_every_copy_source_is_in_the_context() -> None:
    rules = dockerignore_rules()
    files = context_files(rules)
    for stage in stages().values():
        for source in copy_sources(stage):
            assert (ROOT / source).exists(), f"COPY source {source} does not exist"
            assert not is_excluded(source, rules), f"COPY source {source} is in .dockerignore"
            assert any(f == source or f.startswith(source + "/") for f in files), source
    # The package data setuptools includes reaches the build.
    assert "trading_runtime/config/examples/hftbacktest_market_maker.json" in files
    assert any(f.startswith("data/parts/") and f.endswith(".npz") for f in files)


def test_dockerignore_keeps_local_state_out() -> None:
    rules = dockerignore_rules()
    for path in [
        ".venv/bin/python",
        ".dagster/dagster.yaml",
        "results/aggregate_metrics.parquet",
        ".git/HEAD",
        ".env",
        ".mypy_cache/x",
        ".pytest_cache/x",
        ".ruff_cache/x",
        "trading_runtime/__pycache__/cli.cpython-311.pyc",
        "trading_runtime.egg-info/PKG-INFO",
        "tests/test_image.py",
    ]:
        assert is_excluded(path, rules), path


def _sha_check_script() -> str:
    (script,) = [run for run in stages()["builder"].values("RUN") if SHA_CHECK_MARKER in run]
    return script


def _run_sha_check(tmp_path: Path, **build_args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "requirements-framework.txt", tmp_path)
    env = {"PATH": os.environ["PATH"], **build_args}  # build args reach RUN as variables
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", _sha_check_script()],  # the Dockerfile's SHELL
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_sha_check_accepts_the_pinned_commit(tmp_path: Path) -> None:
    pin = framework_pin()
    result = _run_sha_check(
        tmp_path, TRADING_PLATFORM_COMMIT=pin.commit, TRADING_PLATFORM_REPO=pin.repository
    )
    assert result.returncode == 0, result.stderr
    assert "framework pin verified" in result.stdout
    image_lock = (tmp_path / "requirements-image.txt").read_text()
    assert image_lock == (ROOT / "requirements-framework.txt").read_text()


def test_sha_check_without_the_framework_leaves_out_its_line(tmp_path: Path) -> None:
    result = _run_sha_check(
        tmp_path, INSTALL_FRAMEWORK="false", TRADING_PLATFORM_REPO=framework_pin().repository
    )
    assert result.returncode == 0, result.stderr
    assert "not a production image" in result.stdout
    lock = (ROOT / "requirements-framework.txt").read_text().splitlines()
    image_lock = (tmp_path / "requirements-image.txt").read_text().splitlines()
    assert image_lock == [line for line in lock if line != framework_pin().requirement]
    assert len(image_lock) == len(lock) - 1


@pytest.mark.parametrize(
    ("switch", "commit", "message"),
    [
        ("false", "a" * 40, "TRADING_PLATFORM_COMMIT must be empty"),
        ("no", "", "INSTALL_FRAMEWORK must be true or false"),
    ],
)
def test_sha_check_rejects_a_framework_switch_that_contradicts(
    tmp_path: Path, switch: str, commit: str, message: str
) -> None:
    result = _run_sha_check(
        tmp_path,
        INSTALL_FRAMEWORK=switch,
        TRADING_PLATFORM_COMMIT=commit,
        TRADING_PLATFORM_REPO=framework_pin().repository,
    )
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "requirements-image.txt").exists()


@pytest.mark.parametrize(
    ("commit", "message"),
    [
        ("", "TRADING_PLATFORM_COMMIT is required"),
        ("e21137d", "full 40-character lowercase hex"),
        ("E" * 40, "full 40-character lowercase hex"),
        ("g" * 40, "full 40-character lowercase hex"),
        ("0" * 40, "requirements-framework.txt pins 'trading-platform @ git+"),
    ],
)
def test_sha_check_rejects(tmp_path: Path, commit: str, message: str) -> None:
    result = _run_sha_check(
        tmp_path,
        TRADING_PLATFORM_COMMIT=commit,
        TRADING_PLATFORM_REPO=framework_pin().repository,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_sha_check_rejects_another_repository(tmp_path: Path) -> None:
    result = _run_sha_check(
        tmp_path,
        TRADING_PLATFORM_COMMIT=framework_pin().commit,
        TRADING_PLATFORM_REPO="https://example.invalid/fork.git",
    )
    assert result.returncode != 0
    assert "pins 'trading-platform @ git+" in result.stderr


def test_argo_build_passes_the_build_args_the_dockerfile_declares() -> None:
    template = ROOT / "argo" / "workflowtemplate-build-push.yaml"
    text = template.read_text()
    passed = set(re.findall(r'--build-arg="?([A-Z_]+)=', text))
    declared = set(stages()["builder"].args()) | set(stages()["runtime"].args())
    assert passed <= declared
    assert "TRADING_PLATFORM_COMMIT" in passed
    assert "--target=runtime" in text
