#!/usr/bin/env bash
# README command 1: install everything, then run the daemon in the foreground with its
# built-in defaults (state in /var/lib/lambdalet, API on /run/lambdalet/lambdalet.sock) and
# the bundled example functions deployed. Stop it with Ctrl-C.
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
"$here/scripts/setup.sh"
exec /usr/local/bin/lambdalet serve --examples "$here/examples" "$@"
