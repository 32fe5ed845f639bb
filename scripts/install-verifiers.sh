#!/usr/bin/env bash
# Installs the language runtimes the verifier tests (tests/verifiers) run the snippets of
# docs/contracts.md with: Debian's php-cli (php) and golang-go (go). Node.js and Java
# (node, javac) are already on the machines we test on; this script only reports them.
# Idempotent: does nothing when php and go are there.
# Runs as root (CI on a bare Debian machine) or through sudo; without either, it says so
# and the verifier tests of the missing languages skip.
set -euo pipefail

# command -> Debian package that provides it
declare -A PACKAGE=([php]=php-cli [go]=golang-go)

missing=()
for command in php go; do
  if command -v "$command" >/dev/null 2>&1; then
    echo "install-verifiers: $command is installed ($(command -v "$command"))"
  else
    missing+=("${PACKAGE[$command]}")
  fi
done
for command in node javac; do
  command -v "$command" >/dev/null 2>&1 \
    || echo "install-verifiers: $command is missing (not installed by this script); its verifier tests skip" >&2
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"
status=0
apt_install install-verifiers "the verifier tests of those languages" --no-install-recommends "${missing[@]}" || status=$?
[ "$status" -ne 3 ] || exit 0
[ "$status" -eq 0 ] || exit "$status"
for command in php go; do
  if ! command -v "$command" >/dev/null 2>&1; then
    echo "install-verifiers: apt-get ran but $command is still missing" >&2
    exit 1
  fi
done
echo "install-verifiers: done: $(php --version | head -n 1); $(go version)"
