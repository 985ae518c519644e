#!/usr/bin/env bash
# One bootstrap for `make run|up|test`: installs what is missing, skips what is done,
# and prints how long each step took.
#   1. Debian packages redis-server, prometheus, prometheus-alertmanager (and Java 17 /
#      Maven if absent)
#   2. .venv (Python 3.11) with `pip install -e '.[dev]'`, again only when pyproject.toml
#      changed (its sha256 is stamped in .venv/.pyproject.sha256)
#   3. the lifecycle rules and the calculator's planning compiled to C with mypyc
#      (scripts/compile_rules.py), again only when their source changed
#   4. Kafka jars from Maven Central into .cache/kafka-<version>/ (stamped when complete)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { # label, start time, note
  awk -v a="$2" -v b="$EPOCHREALTIME" -v l="$1" -v n="$3" \
    'BEGIN { printf "  %-18s %6.1fs  %s\n", l, b - a, n }'
}
total=$EPOCHREALTIME
echo "bootstrap (step, seconds, note)"

# --- 1. Debian packages ------------------------------------------------------------------
t=$EPOCHREALTIME
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
{ command -v prometheus >/dev/null && command -v promtool >/dev/null; } || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
# the pages, reports and their tests: Debian's chromium (Playwright drives it: its own
# browser download cannot work here), LibreOffice Calc (XLSX -> PDF), poppler (pdftotext,
# pdfinfo), DejaVu Sans (the PDF reports embed it: Vietnamese glyphs)
command -v chromium >/dev/null || missing+=(chromium)
command -v soffice >/dev/null || missing+=(libreoffice-calc-nogui)
{ command -v pdftotext >/dev/null && command -v pdfinfo >/dev/null; } || missing+=(poppler-utils)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || missing+=(fonts-dejavu-core)
# a C compiler for the compiled rules (mypyc; the Python headers come with the interpreter)
command -v gcc >/dev/null || missing+=(gcc)
if [ ${#missing[@]} -eq 0 ]; then
  step "debian packages" "$t" "present"
else
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]} — run as root or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # The packages' own services are not ours (the stack runs its own processes on loopback):
  # keep their postinst from starting redis on 6379, prometheus on 9090 and alertmanager
  # on 9093.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1
  fi
  trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$own_policy" = 1 ] && rm -f "$policy"
  own_policy=0
  (service redis-server stop || true; service prometheus stop || true
   service prometheus-alertmanager stop || true) >/dev/null 2>&1
  step "debian packages" "$t" "installed ${missing[*]}"
fi

# --- 2. Python virtualenv ----------------------------------------------------------------
t=$EPOCHREALTIME
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
stamp=.venv/.pyproject.sha256
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
   && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  step "python venv" "$t" "up to date"
else
  if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
    "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
      echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
    rm -rf .venv
    "$PY" -m venv .venv
  fi
  mkdir -p .cache
  if ! .venv/bin/python -m pip install -q -e '.[dev]' >.cache/pip.log 2>&1; then
    tail -30 .cache/pip.log >&2; exit 1
  fi
  echo "$want" >"$stamp"
  step "python venv" "$t" "pip install -e .[dev]"
fi

# --- 3. The compiled rules (mypyc: scripts/compile_rules.py, only when stale) ----------
t=$EPOCHREALTIME
if ! .venv/bin/python scripts/compile_rules.py --if-stale >.cache/compile.log 2>&1; then
  tail -30 .cache/compile.log >&2; exit 1
fi
step "compiled rules" "$t" "$(tail -1 .cache/compile.log 2>/dev/null || true)"

# --- 4. Kafka jars -----------------------------------------------------------------------
t=$EPOCHREALTIME
if .venv/bin/python -c 'import sys; from devstack.kafka import kafka_jars_ready; sys.exit(not kafka_jars_ready())'; then
  step "kafka jars" "$t" "cached"
else
  if ! .venv/bin/python -c 'from devstack.kafka import ensure_kafka_jars; print(ensure_kafka_jars())' \
       >.cache/mvn.log 2>&1; then
    tail -30 .cache/mvn.log >&2; exit 1
  fi
  step "kafka jars" "$t" "mvn dependency:copy-dependencies -> $(tail -1 .cache/mvn.log)"
fi
step "total" "$total" ""
