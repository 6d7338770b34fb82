"""The README and docs/ stay true: every command in them runs, here or somewhere named.

Every command line in a fenced ``bash``, ``sh`` or ``console`` block of README.md and docs/*.md is
either run by a test in this file (cheap commands, and the README's own-strategy example), or
listed in ``ELSEWHERE`` with where it runs: a line of ``.ci/run``, a named test function (checked
to exist), or a cluster that is not here (with the reason). Commands run as written, from a
scratch directory that links the repository's ``data``, ``docs``, ``scripts`` and the venv as
``.venv``; the only change is that the repository root is put in front of ``PYTHONPATH``, so the
code under test is this checkout's. Also checked: the generated config reference is current, the
README's example is the files in docs/examples/, and every relative link and anchor resolves.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"bash", "sh", "console"}
FENCE = re.compile(r"^```(\S*)\s*$")


@dataclass(frozen=True)
class Elsewhere:
    """Where a documented command that this file does not run is run (or why it is not)."""

    prefix: str
    ci: str = ""  # what a (non-comment) line of .ci/run runs
    test: str = ""  # tests/<file>.py::<function> that runs it or checks the same files
    not_run: str = ""  # needs a cluster, registry or daemon that is not here: why


CLUSTER = "needs a Kubernetes cluster, not run here"
ELSEWHERE = [
    Elsewhere("make run", ci="make run"),
    Elsewhere("make test", ci="CI=true make test"),
    Elsewhere("make lint", ci="make lint"),
    Elsewhere(
        ".venv/bin/python -m pytest tests/test_ui.py",
        test="tests/test_ui.py::test_launch_a_partition_from_the_ui_and_see_its_metrics_and_chart",
    ),
    Elsewhere(
        ".venv/bin/python -m pytest tests/test_docs.py",
        test="tests/test_docs.py::test_every_command_runs_or_is_mapped",
    ),
    Elsewhere(
        "trading-runtime data ingest",
        test="tests/test_ingest.py::test_cli_ingest",  # needs raw files the tests write
    ),
    Elsewhere(
        ".venv/bin/trading-runtime sweep --config",
        test="tests/test_sweep_cli.py::test_a_sweep_runs_locally_and_the_leaderboard_ranks_it",
    ),
    Elsewhere(
        ".venv/bin/trading-runtime leaderboard --config",
        test="tests/test_sweep_cli.py::test_a_sweep_runs_locally_and_the_leaderboard_ranks_it",
    ),
    Elsewhere(
        ".venv/bin/trading-runtime materialize --sweep",
        test="tests/test_variants.py::test_materialize_sweep_runs_variants_through_dagster_and_ranks_them",
    ),
    Elsewhere(
        ".venv/bin/trading-runtime migrate-instance",
        test="tests/test_variants.py::test_migrate_instance_keeps_results_made_before_variants_up_to_date",
    ),
    Elsewhere(
        ".venv/bin/python scripts/config-reference.py --write",
        test="tests/test_docs.py::test_config_reference_is_current",
    ),
    # The cluster path (docs/cluster.md). The image is built from the same Dockerfile target by
    # .ci/run (buildah, no Docker daemon); the rest needs a cluster, validated offline by tests.
    Elsewhere("export SHA=", not_run="sets variables for `docker build` and `helm` below"),
    Elsewhere("docker build --target runtime", ci="scripts/build-image.sh"),
    Elsewhere("docker push", not_run="needs a registry and its credentials"),
    Elsewhere("kubectl create namespace dagster", not_run=CLUSTER),
    Elsewhere("kubectl -n dagster create secret", not_run=CLUSTER),
    Elsewhere("helm repo add dagster", not_run="needs the helm binary and the chart repository"),
    Elsewhere(
        "helm upgrade --install dagster",
        test="tests/test_k8s.py::test_helm_values_use_only_chart_fields",
    ),
    Elsewhere(
        "kubectl -n argo apply -f argo/",
        test="tests/test_argo.py::test_every_template_in_argo_dir_is_a_valid_workflow_template",
    ),
    Elsewhere(
        "argo -n argo submit --from workflowtemplate/trading-runtime-build-push",
        test="tests/test_argo.py::test_validate_step_accepts_full_shas_and_tags_by_branch",
    ),
    Elsewhere(
        "trading-runtime argo render",
        test="tests/test_argo.py::test_render_prints_a_workflow_of_the_backtest_template",
    ),
    Elsewhere(
        "argo -n argo submit wf.yaml", test="tests/test_argo.py::test_rendered_workflow_is_valid"
    ),
    Elsewhere(
        "ARGO_SERVER=https://argo.example.com",
        test="tests/test_argo.py::test_submit_waits_until_succeeded",
    ),
]

# Commands the tests below run, by prefix: each test runs every documented command it names.
HELP = (
    "trading-runtime --help",
    "trading-runtime backtest --help",
    "trading-runtime materialize --help",
)
EXAMPLE_CONFIG = "trading-runtime example-config"
DATA = (
    "trading-runtime data generate",
    "trading-runtime data validate",
    "trading-runtime data latency",
)
OWN_STRATEGY = ("PYTHONPATH=docs/examples", ".venv/bin/trading-runtime aggregate")
CONFIG_CHECK = ".venv/bin/python scripts/config-reference.py --check"
RUN_HERE = {
    **dict.fromkeys(HELP, "test_help_commands"),
    EXAMPLE_CONFIG: "test_example_config_commands",
    **dict.fromkeys(DATA, "test_data_commands"),
    **dict.fromkeys(OWN_STRATEGY, "test_own_strategy_example"),
    CONFIG_CHECK: "test_config_reference_check_command",
}


def blocks(path: Path) -> list[tuple[str, str]]:
    """The fenced blocks of a markdown file: (language, text)."""
    found: list[tuple[str, str]] = []
    language: str | None = None
    lines: list[str] = []
    for line in path.read_text().splitlines():
        match = FENCE.match(line)
        if match and language is None:
            language, lines = match.group(1), []
        elif line.startswith("```") and language is not None:
            found.append((language, "\n".join(lines) + "\n"))
            language = None
        elif language is not None:
            lines.append(line)
    return found


def commands_of(language: str, text: str) -> list[str]:
    """Command lines of a shell block: continuations joined, comments and output left out."""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if language == "console" and not pending:
            if not line.startswith("$ "):
                continue  # output
            line = line[2:]
        line = pending + line.strip() if pending else line.strip()
        if line.endswith("\\"):
            pending = line[:-1].rstrip() + " "
            continue
        pending = ""
        line = re.sub(r"\s+#.*$", "", line)
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def documented_commands() -> list[tuple[str, str]]:
    """Every (file, command) in the README and docs/."""
    return [
        (path.relative_to(ROOT).as_posix(), command)
        for path in DOCS
        for language, text in blocks(path)
        if language in SHELL_LANGUAGES
        for command in commands_of(language, text)
    ]


def matching(prefix: str) -> list[str]:
    return [command for _, command in documented_commands() if command.startswith(prefix)]


def function_exists(reference: str) -> bool:
    file, _, name = reference.partition("::")
    tree = ast.parse((ROOT / file).read_text())
    return any(
        isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name
        for node in tree.body
    )


def test_every_command_runs_or_is_mapped() -> None:
    commands = documented_commands()
    assert commands, "no commands found in the docs"
    prefixes = [*RUN_HERE, *(entry.prefix for entry in ELSEWHERE)]
    unmapped = [
        f"{file}: {command}"
        for file, command in commands
        if not any(command.startswith(prefix) for prefix in prefixes)
    ]
    assert not unmapped, (
        "documented commands that nothing runs; run them in tests/test_docs.py or map them in "
        "its ELSEWHERE table:\n" + "\n".join(unmapped)
    )
    unused = [prefix for prefix in prefixes if not matching(prefix)]
    assert not unused, f"table entries that no documented command uses any more: {unused}"


def test_mapped_places_exist() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    for entry in ELSEWHERE:
        assert bool(entry.ci) + bool(entry.test) + bool(entry.not_run) == 1, entry
        if entry.ci:
            run_lines = [line for line in ci if not line.lstrip().startswith("#")]
            assert any(entry.ci in line for line in run_lines), (
                f".ci/run does not run {entry.ci!r} (mapped from {entry.prefix!r})"
            )
        if entry.test:
            assert function_exists(entry.test), f"{entry.test} (for {entry.prefix!r}) is gone"
    for name in RUN_HERE.values():
        assert function_exists(f"tests/test_docs.py::{name}"), name
    # `make image`, which .ci/run's build script stands for, is that script.
    assert "scripts/build-image.sh" in (ROOT / "Makefile").read_text()


def run(command: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a documented command as written (the repo root first on PYTHONPATH); its stdout."""
    command = re.sub(r"\bPYTHONPATH=(\S+)", r"PYTHONPATH=\1:$PYTHONPATH", command)
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{result.stderr}"
    return result.stdout


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRADING_RUNTIME_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A working directory that looks like the repository root but writes to tmp_path."""
    for name in ("data", "docs", "scripts"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))
    return tmp_path


def test_help_commands(sandbox: Path) -> None:
    for prefix in HELP:
        for command in matching(prefix):
            assert "Usage: trading-runtime" in run(command, sandbox)


def test_example_config_commands(sandbox: Path) -> None:
    commands = matching(EXAMPLE_CONFIG)
    assert commands
    for command in commands:
        assert Path(run(command, sandbox).strip()).is_file()


def test_data_commands(sandbox: Path) -> None:
    generate, validate, latency = (matching(prefix) for prefix in DATA)
    assert generate and validate and latency
    # Generate first: validate and latency read what it wrote. A command documented in two places
    # runs once (generate refuses to overwrite what it wrote the first time).
    for command in dict.fromkeys([*generate, *validate, *latency]):
        run(command, sandbox)


def readme_block(language: str, containing: str) -> str:
    (text,) = [t for lang, t in blocks(README) if lang == language and containing in t]
    return text


def test_readme_example_is_the_files_in_docs_examples() -> None:
    examples = ROOT / "docs" / "examples"
    assert readme_block("python", "@njit") == (examples / "my_strategy.py").read_text()
    assert readme_block("json", '"class_path"') == (examples / "my_strategy.json").read_text()


@pytest.mark.slow
def test_own_strategy_example(sandbox: Path) -> None:
    """The README's own-strategy commands, as written; the output it shows. Slow: a real
    backtest, most of its ~15-30 s numba compiling the strategy."""
    block = readme_block("bash", "my_strategy.json")
    assert [c for c in commands_of("bash", block)] == [
        *matching(OWN_STRATEGY[0]),
        *matching(OWN_STRATEGY[1]),
    ]
    output = run(block, sandbox)
    shown = readme_block("text", "backtesting 1 part(s)")
    for line in shown.splitlines():
        # Everything but the version directory's name (the hash of the raw files' bytes).
        assert line.split("/versions/")[0] in output, f"README shows {line!r}; got:\n{output}"
    assert (sandbox / "my-results" / "aggregate_metrics.parquet").is_file()


def test_config_reference_check_command(sandbox: Path) -> None:
    for command in matching(CONFIG_CHECK):
        assert "up to date" in run(command, sandbox)


def test_config_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "config-reference.py"), "--check"],
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"{result.stderr}\nThe config reference in docs/configuration.md is stale; regenerate it "
        "with: .venv/bin/python scripts/config-reference.py --write"
    )


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def test_relative_links_and_anchors_resolve() -> None:
    broken = []
    for path in DOCS:
        text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.M | re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            resolves = linked.exists() and (
                not anchor or (linked.suffix == ".md" and anchor in anchors(linked))
            )
            if not resolves:
                broken.append(f"{path.name}: {target}")
    assert not broken, "\n".join(broken)
