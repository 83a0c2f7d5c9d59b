#!/usr/bin/env bash
# Install everything lambdalet needs on a Debian/Ubuntu host, idempotently, as root:
# system packages, and a virtualenv (built on the distribution's python3.11, which every
# sandbox can read under /usr) holding the project and its test tools.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${LAMBDALET_VENV:-/opt/lambdalet/venv}"

# As root, or through sudo when started by a user who may use it (a root-only host has no sudo).
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -- "$0" "$@"
  fi
  echo "$(basename "$0"): run as root (it installs packages, and the daemon runs as root)" >&2
  exit 1
fi

packages=(python3.11 python3.11-venv bubblewrap iproute2 nftables procps util-linux ca-certificates nodejs curl wrk awscli)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x /usr/bin/python3.11 ]; then
  echo "setup.sh: /usr/bin/python3.11 is missing; lambdalet needs the distribution's Python 3.11" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || [ "$(readlink -f "$venv/bin/python")" != /usr/bin/python3.11 ]; then
  rm -rf "$venv"
  /usr/bin/python3.11 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$here[test]"
ln -sf "$venv/bin/lambdalet" /usr/local/bin/lambdalet
echo "lambdalet installed in $venv (command: /usr/local/bin/lambdalet)"
