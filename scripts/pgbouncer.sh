#!/usr/bin/env bash
# A throwaway PgBouncer in front of a test PostgreSQL server (scripts/postgres-server.sh),
# for the tests that check Hookline behind a connection pooler and for trying it by hand.
#
#   scripts/pgbouncer.sh install                      the Debian package, if pgbouncer is missing
#   scripts/pgbouncer.sh start DIR POSTGRES_URL [MODE]
#   scripts/pgbouncer.sh stop DIR
#
# `start` installs if needed, writes DIR/pgbouncer.ini pooling every database of the server
# at POSTGRES_URL (postgresql://USER@HOST:PORT/DB) in MODE (transaction by default; session
# or statement), starts it on 127.0.0.1 (port $PGBOUNCER_PORT, or a free one), waits until
# it accepts connections, and prints the pooled URL on stdout:
#   postgresql://USER@127.0.0.1:PORT/DB
# Authentication is `trust`, like the server behind it: for tests and trials only.
# PgBouncer refuses to run as root, so as root it runs as the `postgres` user (created by
# the Debian postgresql package) and DIR is handed to it.
# Exit status 3: pgbouncer is missing and cannot be installed here (the tests skip on it).
set -euo pipefail

# shellcheck source=scripts/common.sh
. "$(dirname "$0")/common.sh"

say() { echo "pgbouncer: $*" >&2; }

find_binary() {
  command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; }
}

install() {
  if binary=$(find_binary); then
    say "pgbouncer is installed ($("$binary" --version | head -n 1))"
    return 0
  fi
  apt_install pgbouncer "the pooler tests" pgbouncer || return $?
  binary=$(find_binary) || { say "apt-get installed pgbouncer but the binary is still missing"; return 1; }
  say "installed $("$binary" --version | head -n 1)"
}

start() {
  local dir=$1 url=$2 mode=${3:-transaction}
  case "$mode" in session|transaction|statement) ;; *) say "MODE must be session, transaction or statement"; return 2 ;; esac
  # postgresql://USER@HOST:PORT/DB, as scripts/postgres-server.sh prints it.
  if [[ ! "$url" =~ ^postgres(ql)?://([^@/:]+)@([^:/]+):([0-9]+)/([^?]+)$ ]]; then
    say "POSTGRES_URL must look like postgresql://USER@HOST:PORT/DB"
    return 2
  fi
  local user=${BASH_REMATCH[2]} host=${BASH_REMATCH[3]} server_port=${BASH_REMATCH[4]} database=${BASH_REMATCH[5]}
  install || return $?
  binary=$(find_binary)
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
  if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
    say "already running in $dir"
  else
    local port=${PGBOUNCER_PORT:-$(free_port)}
    echo "$port" >"$dir/port"
    printf '"%s" ""\n"postgres" ""\n' "$user" >"$dir/userlist.txt"
    # `options` carries Hookline's `-c timezone=UTC`, which PgBouncer cannot pass on: the
    # test server runs in UTC anyway (docs/deploy.md says what to set on a real one).
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$host port=$server_port

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = $mode
max_client_conn = 1000
default_pool_size = 40
ignore_startup_parameters = extra_float_digits,options
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"/*
    as_owner "$binary" -d "$dir/pgbouncer.ini" >&2 || { tail -n 20 "$dir/pgbouncer.log" >&2; return 1; }
    local tries=0
    until python3 -c "import socket, sys; socket.create_connection(('127.0.0.1', $port), timeout=1).close()" 2>/dev/null; do
      tries=$((tries + 1))
      if [ $tries -ge 100 ]; then
        say "pgbouncer did not accept connections on port $port"
        tail -n 20 "$dir/pgbouncer.log" >&2
        return 1
      fi
      sleep 0.1
    done
  fi
  echo "postgresql://$user@127.0.0.1:$(cat "$dir/port")/$database"
}

stop() {
  local dir=$1 pid
  if [ -f "$dir/pgbouncer.pid" ] && pid=$(cat "$dir/pgbouncer.pid") && kill -0 "$pid" 2>/dev/null; then
    kill -INT "$pid"  # a safe shutdown: waits for the clients' transactions to end
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -TERM "$pid"
  else
    say "no pgbouncer running in $dir"
  fi
}

case "${1:-}" in
  install) install ;;
  start) [ $# -ge 3 ] || { say "usage: $0 start DIR POSTGRES_URL [MODE]"; exit 2; }; start "$2" "$3" "${4:-}" ;;
  stop) [ $# -eq 2 ] || { say "usage: $0 stop DIR"; exit 2; }; stop "$2" ;;
  *) say "usage: $0 install | start DIR POSTGRES_URL [MODE] | stop DIR"; exit 2 ;;
esac
