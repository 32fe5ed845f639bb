#!/usr/bin/env bash
# Installs what the browser tests need: Debian's chromium (Playwright drives it through
# executable_path; `playwright install` cannot download browsers here). Idempotent.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "install-browser: chromium is missing and this user cannot install packages; browser tests will be skipped" >&2
  exit 0
fi
echo "install-browser: installing Debian's chromium for the browser tests (apt-get)..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
echo "install-browser: $(chromium --version)"
