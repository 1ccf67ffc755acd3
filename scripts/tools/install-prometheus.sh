#!/usr/bin/env bash
# Makes `prometheus` and `promtool` (Debian's `prometheus` package), `prometheus-alertmanager` and
# `amtool` (Debian's `prometheus-alertmanager`: the inhibition rules are checked on a real
# Alertmanager) available, for the observability tests (test/observability/). Idempotent: does
# nothing when all four are on PATH.
#
# Runs as root (or with sudo available). Installs without recommends (no node-exporter) and
# without starting any service: a temporary /usr/sbin/policy-rc.d (exit 101) tells the package's
# maintainer scripts not to start the daemon; the tests start their own Prometheus on a free port.
# If a prometheus daemon was started anyway (a pre-existing policy allowing it), it is stopped.
set -euo pipefail

say() { printf '[install-prometheus] %s\n' "$*" >&2; }

TOOLS=(prometheus promtool prometheus-alertmanager amtool)
missing() { for t in "${TOOLS[@]}"; do command -v "$t" >/dev/null 2>&1 || return 0; done; return 1; }
if ! missing; then
  say "already installed: $(prometheus --version 2>&1 | head -n1), $(prometheus-alertmanager --version 2>&1 | head -n1)"
  exit 0
fi

SUDO=
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { say "ERROR: run as root (or install sudo)"; exit 1; }
  SUDO=sudo
fi
command -v apt-get >/dev/null 2>&1 || {
  say "ERROR: apt-get not found; install Prometheus (prometheus + promtool) yourself"
  exit 1
}

POLICY=/usr/sbin/policy-rc.d
added_policy=false
if [[ ! -e $POLICY ]]; then
  printf '#!/bin/sh\n# added by install-prometheus.sh: start no service during install\nexit 101\n' |
    $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  added_policy=true
fi
cleanup() { if $added_policy; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

say "installing Debian packages prometheus and prometheus-alertmanager (no recommends)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Use-Pty=0 prometheus prometheus-alertmanager >/dev/null

# never leave the packaged daemons running (they would bind 9090 and 9093)
for daemon in prometheus prometheus-alertmanager; do
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    $SUDO systemctl disable --now "$daemon" >/dev/null 2>&1 || true
  fi
  if [[ -x /etc/init.d/$daemon ]] && pgrep -x "$daemon" >/dev/null 2>&1; then
    $SUDO "/etc/init.d/$daemon" stop >/dev/null 2>&1 || true
  fi
done

for t in "${TOOLS[@]}"; do
  command -v "$t" >/dev/null 2>&1 || { say "ERROR: $t missing after install"; exit 1; }
done
say "installed: $(prometheus --version 2>&1 | head -n1)"
