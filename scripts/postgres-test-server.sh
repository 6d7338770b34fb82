#!/usr/bin/env bash
# A throw-away PostgreSQL for tests/test_postgres.py: Debian's `postgresql` package, a fresh data
# directory, TCP on 127.0.0.1 only (no Unix socket), password authentication, a `dagster` role
# and database (the names k8s/dagster.yaml and the Helm values use).
#
#   scripts/postgres-test-server.sh start DIR   # DIR: an empty directory for data, log and env
#   set -a; . DIR/env; set +a                   # TRADING_RUNTIME_TEST_POSTGRES_URL and PG* vars
#   scripts/postgres-test-server.sh stop DIR    # stops the server and removes DIR
#
# DIR/env holds NAME=value lines, so it also works as a GitHub Actions $GITHUB_ENV file.
# Installs the package with apt-get when no server binaries are found (as root, or with
# passwordless sudo). As root the server runs as the package's `postgres` user: PostgreSQL
# refuses to run as root. Waits are bounded (POSTGRES_TEST_WAIT_S, default 60 s).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $# == 2 ]] || usage
action="$1"
dir="$2"
wait_s="${POSTGRES_TEST_WAIT_S:-60}"

as_root() {
  if [[ $EUID == 0 ]]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else echo "error: need root (or passwordless sudo) to run: $*" >&2; exit 1
  fi
}

# The newest installed server's binaries (Debian keeps them out of PATH).
server_bindir() {
  local found
  found="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
    | sort -V | tail -n 1)"
  [[ -n "$found" ]] && dirname "$found"
}

# Runs a server binary as the user that owns the data directory.
as_owner() {
  if [[ $EUID == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  [[ ! -e "$dir/data" ]] || { echo "error: $dir/data exists: already started?" >&2; exit 1; }
  mkdir -p "$dir"
  local bindir
  if ! bindir="$(server_bindir)"; then
    echo "installing Debian's postgresql"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0)
    as_root "${apt[@]}" update
    # Only the binaries: no default cluster that the package would start on port 5432.
    as_root "${apt[@]}" install -y --no-install-recommends postgresql-common >/dev/null
    as_root sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*/create_main_cluster = false/' \
      /etc/postgresql-common/createcluster.conf
    as_root "${apt[@]}" install -y --no-install-recommends postgresql >/dev/null
    bindir="$(server_bindir)" || { echo "error: no initdb under /usr/lib/postgresql" >&2; exit 1; }
  fi
  if [[ $EUID == 0 ]]; then
    id postgres >/dev/null 2>&1 || { echo "error: no 'postgres' user to run the server" >&2; exit 1; }
    chown postgres: "$dir"
    chmod 700 "$dir"
  fi

  local port superuser_pw dagster_pw
  port="${POSTGRES_TEST_PORT:-$(free_port)}"
  superuser_pw="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  dagster_pw="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  (umask 077 && printf '%s\n' "$superuser_pw" >"$dir/superuser-password")
  [[ $EUID != 0 ]] || chown postgres: "$dir/superuser-password"

  as_owner "$bindir/initdb" --pgdata="$dir/data" --username=postgres \
    --pwfile="$dir/superuser-password" --auth=scram-sha-256 --encoding=UTF8 --no-locale \
    --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  # fsync off: a throw-away database; durability costs time and tests nothing here.
  as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --log="$dir/server.log" --wait \
    --timeout="$wait_s" \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='' -c fsync=off" \
    start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }

  PGPASSWORD="$superuser_pw" "$bindir/psql" --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
    --host=127.0.0.1 --port="$port" --username=postgres --dbname=postgres \
    -c "CREATE ROLE dagster LOGIN CREATEDB PASSWORD '$dagster_pw'" \
    -c "CREATE DATABASE dagster OWNER dagster"

  (umask 077 && cat >"$dir/env") <<EOF
TRADING_RUNTIME_TEST_POSTGRES_URL=postgresql://dagster:$dagster_pw@127.0.0.1:$port/dagster
PGHOST=127.0.0.1
PGPORT=$port
PGUSER=dagster
PGPASSWORD=$dagster_pw
PGDATABASE=dagster
EOF
  echo "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" \
    "(data in $dir/data; connection settings in $dir/env)"
}

stop() {
  if [[ -f "$dir/data/postmaster.pid" ]]; then
    local bindir
    bindir="$(server_bindir)"
    as_owner "$bindir/pg_ctl" --pgdata="$dir/data" --mode=fast --wait --timeout="$wait_s" \
      stop >/dev/null || echo "warning: pg_ctl stop failed; see $dir/server.log" >&2
  fi
  rm -rf "$dir"
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
