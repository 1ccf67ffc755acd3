#!/usr/bin/env bash
# Makes `prometheus` and `promtool` available (Debian's `prometheus` package), for the
# observability tests (test/observability/). Idempotent: does nothing when both are on PATH.
#
# Runs as root (or with sudo available). Installs without recommends (no node-exporter) and
# without starting any service: a temporary /usr/sbin/policy-rc.d (exit 101) tells the package's
# maintainer scripts not to start the daemon; the tests start their own Prometheus on a free port.
# If a prometheus daemon was started anyway (a pre-existing policy allowing it), it is stopped.
set -euo pipefail

say() { printf '[install-prometheus] %s\n' "$*" >&2; }

if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  say "already installed: $(prometheus --version 2>&1 | head -n1)"
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

say "installing Debian package prometheus (no recommends)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Use-Pty=0 prometheus >/dev/null

# never leave the packaged daemon running (it would bind 9090)
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
if [[ -x /etc/init.d/prometheus ]] && pgrep -x prometheus >/dev/null 2>&1; then
  $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

command -v promtool >/dev/null 2>&1 || { say "ERROR: promtool missing after install"; exit 1; }
say "installed: $(prometheus --version 2>&1 | head -n1)"
