#!/usr/bin/env bash
# The Debian packages the tests for watching Mayday need, installed once:
#   prometheus  its promtool unit-tests deploy/monitoring's alerts and parses the dashboard's queries; its
#               server is the one the canary-analysis tests start (the package's own service is not started)
#   chromium    the browser the rollout page's tests drive through playwright-core (never downloaded)
# Prints where the programs are (PROMTOOL=..., PROMETHEUS=..., CHROMIUM=...). Returns at once when they are there.
# Honours PROMTOOL, PROMETHEUS and CHROMIUM when set to executables (e.g. on a machine without apt).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

log() { echo "[test-tools $(date -u +%H:%M:%S)] $*" >&2; }
die() { log "$*"; exit 1; }

promtool=${PROMTOOL:-$(command -v promtool || true)}
prometheus=${PROMETHEUS:-$(command -v prometheus || true)}
chromium=${CHROMIUM:-$(command -v chromium || true)}
missing=()
{ [ -x "$promtool" ] && [ -x "$prometheus" ]; } || missing+=(prometheus)
[ -x "$chromium" ] || missing+=(chromium)

if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: install ${missing[*]} by hand, or set PROMTOOL / CHROMIUM"
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install ${missing[*]}"
    as_root=(sudo -n)
  fi
  # Serialised: several test files may ask at once, and apt/dpkg take one caller at a time.
  exec 9>"${TMPDIR:-/tmp}/mayday-test-tools.lock"
  flock 9
  # Another caller may have installed them while this one waited.
  still=()
  for p in "${missing[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || still+=("$p"); done
  if [ ${#still[@]} -gt 0 ]; then
    log "apt-get install ${still[*]}"
    "${as_root[@]}" apt-get update -qq
    # RUNLEVEL=1: the prometheus package's own service is not wanted (the tests start their servers).
    "${as_root[@]}" env RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${still[@]}" >/dev/null
  fi
  flock -u 9
  promtool=${PROMTOOL:-$(command -v promtool)}
  prometheus=${PROMETHEUS:-$(command -v prometheus)}
  chromium=${CHROMIUM:-$(command -v chromium)}
fi

echo "PROMTOOL=$promtool"
echo "PROMETHEUS=$prometheus"
echo "CHROMIUM=$chromium"
