#!/usr/bin/env bash
# Regenerate the locks from pyproject.toml with pip-tools:
#   requirements.txt            - the runtime plus test/lint tools (what `make setup` installs)
#   requirements-framework.txt  - the runtime (no test/lint tools) plus trading-platform at the
#                                 commit pinned in .env: what the runtime image installs
# Usage: scripts/lock.sh [--no-framework] [pip-compile options such as --upgrade]
#   --no-framework  only requirements.txt (the framework lock resolves the git pin from GitHub)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source .env
: "${TRADING_PLATFORM_REPO:?set in .env}" "${TRADING_PLATFORM_COMMIT:?set in .env}"
[[ "$TRADING_PLATFORM_COMMIT" =~ ^[0-9a-f]{40}$ ]] || {
  echo "TRADING_PLATFORM_COMMIT must be a 40-hex commit SHA" >&2; exit 1; }

with_framework=1
if [[ "${1:-}" == "--no-framework" ]]; then with_framework=0; shift; fi

# Not PIP_COMPILE: pip reads every PIP_* variable as an option (that one is --compile).
PIP_COMPILE_BIN="${PIP_COMPILE_BIN:-.venv/bin/pip-compile}"
common=(--quiet --strip-extras --no-emit-index-url --no-emit-find-links "$@")

"$PIP_COMPILE_BIN" "${common[@]}" --extra dev --output-file requirements.txt pyproject.toml
[[ $with_framework == 1 ]] || exit 0

framework_in="$(mktemp --suffix=.in)"
trap 'rm -f "$framework_in"' EXIT
echo "trading-platform @ git+${TRADING_PLATFORM_REPO}@${TRADING_PLATFORM_COMMIT}" > "$framework_in"
# The framework lock starts from the main lock so both resolve to the same versions.
# No dev extra: this is what the runtime image installs.
"$PIP_COMPILE_BIN" "${common[@]}" --constraint requirements.txt \
  --output-file requirements-framework.txt pyproject.toml "$framework_in"
# Name the pin's source instead of the temporary file in the lock's comments.
sed -i "s#${framework_in}#.env(TRADING_PLATFORM_COMMIT)#g" requirements-framework.txt
