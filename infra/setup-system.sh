#!/usr/bin/env bash
# System packages crimefusion's tests and jobs need beyond Python, installed
# only when missing (CI runs as root on a clean machine with Debian's registry).
set -euo pipefail
need=()
# (Java for Spark and Chromium for the UI browser test are added here by the
# issues that need them.)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need[*]} (run as root, or install them)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
