#!/usr/bin/env bash
# One bootstrap for `make run|up|test`: installs what is missing, skips what is done,
# and prints how long each step took.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3

step() { awk -v a="$2" -v b="$EPOCHREALTIME" -v l="$1" -v n="$3" 'BEGIN { printf "  %-30s %6.1fs  %s\n", l, b - a, n }'; }
total=$EPOCHREALTIME
echo "bootstrap"

t=$EPOCHREALTIME
if command -v redis-server >/dev/null && command -v prometheus >/dev/null \
   && command -v promtool >/dev/null; then
  step "debian packages" "$t" "present"
else
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server prometheus >/dev/null
  # the packages' own services are not ours: the stack runs its own processes
  (service redis-server stop || true; service prometheus stop || true) >/dev/null 2>&1
  step "debian packages" "$t" "installed redis-server prometheus"
fi

t=$EPOCHREALTIME
stamp=.venv/.installed
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  step "python venv" "$t" "up to date"
else
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  mkdir -p .cache
  if ! .venv/bin/pip install -q -e '.[dev]' >.cache/pip.log 2>&1; then
    tail -30 .cache/pip.log; exit 1
  fi
  echo "$want" > "$stamp"
  step "python venv" "$t" "installed"
fi

t=$EPOCHREALTIME
if .venv/bin/python -c 'from devstack.kafka import ensure_kafka_jars, kafka_version; from devstack.paths import CACHE; import sys; sys.exit(0 if (CACHE / f"kafka-{kafka_version()}" / ".complete").exists() else 1)'; then
  step "kafka jars" "$t" "cached"
else
  if ! .venv/bin/python -c 'from devstack.kafka import ensure_kafka_jars; ensure_kafka_jars()' \
       >.cache/mvn.log 2>&1; then
    tail -30 .cache/mvn.log; exit 1
  fi
  step "kafka jars" "$t" "resolved with mvn"
fi
step "total" "$total" ""
