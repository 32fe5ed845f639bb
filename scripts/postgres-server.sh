#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests and for trying several workers by hand.
#
#   scripts/postgres-server.sh install            the Debian packages, if the binaries are missing
#   scripts/postgres-server.sh start DIR [--no-fsync]
#   scripts/postgres-server.sh stop DIR
#
# `start` installs if needed, creates a cluster in DIR/data on first use, starts it on
# 127.0.0.1 (port $PGPORT, or a free one), waits until it accepts connections, creates the
# role and database `hookline`, and prints the URL on stdout:
#   postgresql://hookline@127.0.0.1:PORT/hookline
# Authentication is `trust` on loopback: this server is for tests and trials, never for data
# you keep. --no-fsync trades crash safety for speed (the test suite asks for it).
# PostgreSQL refuses to run as root, so as root the server runs as the `postgres` user
# (created by the Debian package) and DIR is handed to it.
# Exit status 3: PostgreSQL is missing and cannot be installed here (the tests skip on it).
set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

say() { echo "postgres-server: $*" >&2; }

find_bindir() {
  local candidate
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return
  fi
  # Debian keeps the server binaries out of PATH, one folder per major version.
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ]; then
      echo "$candidate"
      return
    fi
  done
  return 1
}

install() {
  if bindir=$(find_bindir); then
    say "PostgreSQL is installed ($("$bindir/postgres" --version))"
    return 0
  fi
  apt_install postgres-server "the PostgreSQL tests" postgresql || return $?
  if ! bindir=$(find_bindir); then
    say "apt-get installed postgresql but pg_ctl and initdb are still missing"
    return 1
  fi
  say "installed $("$bindir/postgres" --version)"
}

start() {
  local dir=$1 fsync=on
  [ "${2:-}" = "--no-fsync" ] && fsync=off
  install || return $?
  bindir=$(find_bindir)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    if ! as_owner test -w "$dir"; then
      say "the postgres user cannot write to $dir (a parent folder is closed to it); choose a folder under /tmp"
      return 1
    fi
  fi
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  if as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    say "already running in $dir"
  else
    local port=${PGPORT:-$(free_port)}
    echo "$port" >"$dir/port"
    # Unix sockets in DIR, not /var/run/postgresql: that folder may not exist or not be ours.
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=200 \
       -c fsync=$fsync -c synchronous_commit=$fsync -c full_page_writes=$fsync -c timezone=UTC" >&2 \
      || { tail -n 20 "$dir/server.log" >&2; return 1; }
  fi
  local port
  port=$(cat "$dir/port")
  local psql=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres)
  if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'hookline'")" != 1 ]; then
    "${psql[@]}" -c "CREATE ROLE hookline LOGIN CREATEDB" >&2
  fi
  if [ "$("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'hookline'")" != 1 ]; then
    "${psql[@]}" -c "CREATE DATABASE hookline OWNER hookline" >&2
  fi
  echo "postgresql://hookline@127.0.0.1:$port/hookline"
}

stop() {
  local dir=$1
  bindir=$(find_bindir) || { say "PostgreSQL is not installed: nothing to stop"; return 0; }
  if [ -f "$dir/data/PG_VERSION" ] && as_owner "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2
  else
    say "no server running in $dir"
  fi
}

case "${1:-}" in
  install) install ;;
  start) [ $# -ge 2 ] || { say "usage: $0 start DIR [--no-fsync]"; exit 2; }; start "$2" "${3:-}" ;;
  stop) [ $# -eq 2 ] || { say "usage: $0 stop DIR"; exit 2; }; stop "$2" ;;
  *) say "usage: $0 install | start DIR [--no-fsync] | stop DIR"; exit 2 ;;
esac
