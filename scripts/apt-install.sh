# Sourced by the scripts that install what the tests need (install-browser.sh,
# install-verifiers.sh, postgres-server.sh, pgbouncer.sh): one way to get Debian packages.
#
#   apt_install NAME WHAT [APT-GET OPTION...] PACKAGE...
#
# installs the packages with apt-get as root, or through sudo. When it cannot (no apt-get;
# neither root nor sudo) it says so, naming NAME (the script) and WHAT (the tests that then
# skip), and returns 3; otherwise it returns apt-get's status.

apt_install() {
  local name=$1 what=$2
  shift 2
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "$name: apt-get is not available to install $*; install it yourself or $what skip" >&2
    return 3
  fi
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "$name: $(id -un) can neither install packages ($*) nor use sudo; $what skip" >&2
      return 3
    fi
    sudo=(sudo)
  fi
  echo "$name: installing Debian's $* with apt-get" >&2
  # `env` after sudo: sudo drops most of the caller's environment, DEBIAN_FRONTEND included.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 \
    && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >&2
}
