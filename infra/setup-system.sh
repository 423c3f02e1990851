#!/usr/bin/env bash
# System packages crimefusion's tests and jobs need beyond Python, installed
# only when missing (CI runs as root on a clean machine with Debian's registry).
set -euo pipefail
need=()
# Java 17 for Spark (pyspark 4.x)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jre-headless)
# Chromium for the UI browser test (tests/ui), PostgreSQL for the topology test (tests/infra)
[ -x /usr/bin/chromium ] || need+=(chromium fonts-liberation)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
