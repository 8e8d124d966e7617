#!/usr/bin/env bash
# Installs everything integrated-care needs on a fresh machine (Python 3.11, Node.js 20, apt).
#   scripts/setup.sh          the app: Python packages (from uv.lock) and front-end assets
#   scripts/setup.sh --test   the same plus what the test suite needs (Debian's Chromium)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

if ! command -v uv >/dev/null 2>&1; then
  step "Installing uv (Python package manager)"
  python3 -m pip install --quiet --user "uv==0.13.9" || python3 -m pip install --quiet "uv==0.13.9"
  export PATH="$HOME/.local/bin:$PATH"
fi

step "Installing Python packages from uv.lock"
uv sync --frozen

step "Installing front-end assets (NHS.UK frontend, Vega-Lite, axe-core) from package-lock.json"
npm ci --no-audit --no-fund --loglevel=error
uv run --frozen python scripts/build_assets.py

if [ "${1:-}" = "--test" ]; then
  if ! command -v java >/dev/null 2>&1; then
    step "Installing Java 17 for the Spark engine tests"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
  fi
  if [ ! -x /usr/bin/chromium ]; then
    step "Installing Debian's Chromium for the browser tests"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi
step "Set-up complete"
