# Sourced by the scripts that install and run what the tests need (install-browser.sh,
# install-verifiers.sh, postgres-server.sh, pgbouncer.sh).
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

# Runs a server binary as the user that owns PostgreSQL's files (runuser lives in
# /usr/sbin, which a non-login PATH may lack).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    PATH="$PATH:/usr/sbin:/sbin" runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
