#!/usr/bin/env bash
# Installs what the browser tests (tests/e2e) need: Debian's chromium at /usr/bin/chromium.
# Playwright drives it through executable_path, because `playwright install` cannot
# download its own browsers here. Idempotent: does nothing when chromium is there.
# Runs as root (CI on a bare Debian machine) or through sudo; without either, it says so
# and the browser tests skip.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "install-browser: $CHROMIUM is installed ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
status=0
apt_install install-browser "the browser tests" chromium || status=$?
[ "$status" -ne 3 ] || exit 0
[ "$status" -eq 0 ] || exit "$status"
if [ ! -x "$CHROMIUM" ]; then
  echo "install-browser: apt-get installed chromium but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "install-browser: done: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
