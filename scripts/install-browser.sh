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
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: $CHROMIUM is missing and apt-get is not available; install chromium yourself or the browser tests skip" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "install-browser: $CHROMIUM is missing and $(id -un) can neither install packages nor use sudo; the browser tests skip" >&2
  exit 0
fi

run() {
  echo "install-browser: + $*"
  "$@"
}

echo "install-browser: $CHROMIUM is missing; installing Debian's chromium package with apt-get"
# `env` after sudo: sudo drops most of the caller's environment, DEBIAN_FRONTEND included.
run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
run "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
if [ ! -x "$CHROMIUM" ]; then
  echo "install-browser: apt-get installed chromium but $CHROMIUM is still missing" >&2
  exit 1
fi
echo "install-browser: done: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
