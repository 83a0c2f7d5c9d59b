#!/usr/bin/env bash
# README command 1: install everything, then run the daemon in the foreground with its
# built-in defaults (state in /var/lib/lambdalet, API on /run/lambdalet/lambdalet.sock) and
# the bundled example functions deployed. Stop it with Ctrl-C.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$here/scripts/setup.sh"
exec /usr/local/bin/lambdalet serve --examples "$here/examples" "$@"
