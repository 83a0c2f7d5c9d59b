#!/usr/bin/env bash
# README command 2: the whole test suite (lint, types, unit and privileged integration
# tests). Installs what it needs first, so it also works on a machine that never ran
# the quick start. Run as root: the integration tests build real sandboxes.
set -euo pipefail
# As root, or through sudo when started by a user who may use it (a root-only host has no sudo).
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -- "$0" "$@"
  fi
  echo "$(basename "$0"): run as root (it installs packages, and the daemon runs as root)" >&2
  exit 1
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LAMBDALET_VENV:-/opt/lambdalet/venv}"
"$here/scripts/setup.sh"
cd "$here"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
"$venv/bin/mypy" --strict
exec "$venv/bin/pytest" "$@"
