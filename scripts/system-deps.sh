#!/usr/bin/env bash
# Installs the Debian packages the tests need, with apt-get (idempotent: a package already present
# is skipped; `apt-get update` runs once, only when something is missing). Called by
# scripts/test.sh (make test). Needs root or sudo when something is missing.
#
#   postgresql   the store tests start a throw-away cluster with initdb/pg_ctl from
#                /usr/lib/postgresql/<version>/bin (no system service is used)
#   chromium     tests/test_dashboard_browser.py drives it with Playwright (no browser download)
set -euo pipefail

missing=()

# --- postgresql: initdb and pg_ctl of some installed server version ---
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null; then
  missing+=(postgresql)
fi

# --- chromium: the dashboard's browser tests drive Debian's Chromium with Playwright ---
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  missing+=(chromium)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null; then
  echo "[system-deps] error: missing ${missing[*]} and no apt-get here: install them with your package manager" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "[system-deps] error: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi
echo "[system-deps] installing ${missing[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
