#!/usr/bin/env bash
# Install lambdalet as a systemd service, idempotently (run scripts/setup.sh first: it installs
# the packages, the virtualenv and /usr/local/bin/lambdalet):
#   - the unit            <root>/etc/systemd/system/lambdalet.service (replaced when it differs)
#   - a default config    <root>/etc/lambdalet/config.toml (never overwritten)
#   - the state directory <root>/var/lib/lambdalet (root only, 0700)
#   - the socket group    lambdalet (members may use the API socket; `usermod -aG lambdalet USER`)
# then `systemctl daemon-reload`, only when installing into / on a host whose PID 1 is systemd.
#
# Usage: scripts/install-service.sh [--root DIR]
#   --root DIR  install into DIR instead of / (an image being built, or a test): nothing outside
#               DIR is touched and systemctl is not run; DIR/etc/group and DIR/etc/gshadow must
#               exist for the group.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root=/
while [ "$#" -gt 0 ]; do
  case "$1" in
    --root) root="${2:?--root needs a directory}"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$(basename "$0"): unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
root="$(cd "$root" && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "$(basename "$0"): run as root (it writes /etc and adds a group)" >&2
  exit 1
fi
prefix="${root%/}"  # "" for /

say() { printf '%s\n' "$*"; }

# The unit: ours, so a changed one replaces the installed one.
unit="$prefix/etc/systemd/system/lambdalet.service"
install -d -m 0755 "$(dirname "$unit")"
if [ -f "$unit" ] && cmp -s "$here/scripts/lambdalet.service" "$unit"; then
  say "unit: $unit unchanged"
else
  install -m 0644 "$here/scripts/lambdalet.service" "$unit"
  say "unit: wrote $unit"
fi

# The configuration: the operator's once written.
config="$prefix/etc/lambdalet/config.toml"
install -d -m 0755 "$(dirname "$config")"
if [ -e "$config" ]; then
  say "config: $config exists, kept"
else
  tmp="$(mktemp "$config.XXXXXX")"
  cat > "$tmp" <<'TOML'
# lambdalet's configuration (written once by scripts/install-service.sh, never overwritten).
# Every key, its unit and default: README.md, "Configuration". `systemctl reload lambdalet`
# applies what can change live (VPCs, limits, prewarm sizes, log levels) and names the rest in
# `systemctl status lambdalet`.
state_dir = "/var/lib/lambdalet"
socket_path = "/run/lambdalet/lambdalet.sock"
socket_group = "lambdalet"
# The API for boto3 and the AWS CLI (SigV4-signed with a key of credentials_file):
# http_listen = "127.0.0.1:9001"
# function_url_listen = "127.0.0.1:9002"

[daemon]
# SIGTERM: in-flight invokes get this long; below the unit's TimeoutStopSec (45 s).
stop_timeout_s = 30
log_level = "INFO"

[concurrency]
account_limit = 1000
TOML
  chmod 0644 "$tmp"
  mv "$tmp" "$config"
  say "config: wrote $config"
fi

state="$prefix/var/lib/lambdalet"
if [ -d "$state" ]; then
  say "state: $state exists"
else
  say "state: created $state"
fi
install -d -m 0700 "$state"

# The socket group.
group_file="$prefix/etc/group"
if grep -q '^lambdalet:' "$group_file" 2>/dev/null; then
  say "group: lambdalet exists"
elif [ "$root" = / ]; then
  groupadd --system lambdalet
  say "group: added lambdalet"
else
  groupadd --system --prefix "$root" lambdalet
  say "group: added lambdalet in $group_file"
fi

if [ "$root" != / ]; then
  say "systemd: not reloaded (installed into $root)"
elif ! command -v systemctl >/dev/null 2>&1; then
  say "systemd: no systemctl on this host; start it with: lambdalet serve --config $config"
elif [ ! -d /run/systemd/system ]; then
  say "systemd: PID 1 is not systemd ($(cat /proc/1/comm 2>/dev/null || echo unknown)); not reloaded"
else
  systemctl daemon-reload
  say "systemd: reloaded; start it with: systemctl enable --now lambdalet"
fi
if [ "$root" = / ] && [ ! -x /usr/local/bin/lambdalet ]; then
  say "warning: /usr/local/bin/lambdalet is missing (the unit runs it): run scripts/setup.sh" >&2
fi
