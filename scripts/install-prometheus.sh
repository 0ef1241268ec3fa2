#!/usr/bin/env bash
# Installs Debian's `prometheus` package (the server the canary-analysis tests start), once:
# nothing is done when a `prometheus` binary is already on PATH (or PROMETHEUS_BIN names one).
# Needs root for apt-get (or sudo). Prints the binary's path.
set -euo pipefail

log() { echo "[install-prometheus] $*" >&2; }
die() { log "$*"; exit 1; }

if [ -n "${PROMETHEUS_BIN:-}" ]; then
  [ -x "$PROMETHEUS_BIN" ] || die "PROMETHEUS_BIN=$PROMETHEUS_BIN is not an executable"
  echo "$PROMETHEUS_BIN"
  exit 0
fi
if command -v prometheus >/dev/null 2>&1; then
  command -v prometheus
  exit 0
fi

SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=$(command -v sudo || true); fi
[ "$(id -u)" = 0 ] || [ -n "$SUDO" ] || die "need root (or sudo) to apt-get install prometheus; or set PROMETHEUS_BIN"
command -v apt-get >/dev/null || die "apt-get not found: install Prometheus by hand and set PROMETHEUS_BIN"

log "apt-get install prometheus"
${SUDO:+$SUDO -n} apt-get update -qq
# The package's service is not needed (the tests start their own server on a free port): keep it from starting.
${SUDO:+$SUDO -n} env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v prometheus || die "prometheus is still not on PATH after apt-get install"
