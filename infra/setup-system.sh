#!/usr/bin/env bash
# System packages crimefusion's tests and jobs need beyond Python, installed
# only when missing (CI runs as root on a clean machine with Debian's registry).
# As a non-root user it uses passwordless sudo when there is one; otherwise it
# names what is missing and what needs it, and goes on: `make run` needs none of
# these (Spark, the browser test and the Postgres topology test do).
set -euo pipefail
need=()
# Java 17 for Spark (pyspark 4.x): the spark compute mode and its tests
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
# Chromium for the UI browser test (tests/ui), PostgreSQL for the topology test (tests/infra)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-liberation)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
((${#need[@]})) || exit 0
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "warning: missing system packages: ${need[*]}" >&2
  echo "  needed by: Java -> Spark mode and tests/jobs/spark; Chromium -> tests/ui; PostgreSQL -> tests/infra/test_topology.py" >&2
  echo "  install them as root (apt-get install ${need[*]}) before 'make test'; 'make run' works without them" >&2
  exit 0
fi
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
