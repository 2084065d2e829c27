# tests/lib/postgres.sh - a throwaway PostgreSQL 15 cluster for integration
# scenarios, the quickstart and benchmarks.  Source it (bash).
#
#   pg_start DIR [PORT] [DB]   initdb into DIR/data, server on 127.0.0.1:PORT
#                              with its unix socket in DIR; sets PG_PID and
#                              exports PGHOST PGPORT PGUSER PGDATABASE
#                              DATABASE_URL (superuser, trust auth, loopback)
#   pg_stop DIR                fast shutdown, waits
#   pg_psql SQL...             psql -X -q -v ON_ERROR_STOP=1 as the superuser
#   pg_migrate                 enrich/sql applied by build/crm-migrate (roles too)
#
# initdb and postgres refuse to run as root, so as root the server runs as
# the 'postgres' system user (created by Debian's postgresql-common) and DIR
# is chowned to it; every parent of DIR must be traversable (o+x), which
# pg_start checks.  fsync is off: these clusters are disposable.
: "${PG_BIN:=/usr/lib/postgresql/15/bin}"

if ! declare -F fail >/dev/null; then
	fail() { echo "FAIL: $*" >&2; exit 1; }
fi
if ! declare -F track_pid >/dev/null; then
	track_pid() { :; }
fi

_pg_as_owner() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_start() { # DIR [PORT] [DB]
	local d="$1" port="${2:-15432}" db="${3:-crm}" owner p
	[ -x "$PG_BIN/initdb" ] || {
		echo "postgres: $PG_BIN/initdb missing (packaging/deps.sh test installs postgresql-15)" >&2
		return 77
	}
	mkdir -p "$d"; d="$(cd "$d" && pwd)"
	owner="$(id -un)"
	if [ "$(id -u)" = 0 ]; then
		owner=postgres
		p="$d"
		while [ "$p" != / ]; do
			p="$(dirname "$p")"
			[ "$(( 0$(stat -c %a "$p") & 1 ))" = 1 ] ||
			    fail "postgres: $p is not o+x; the postgres user cannot reach $d"
		done
		chown "$owner" "$d"
	fi
	_pg_as_owner "$PG_BIN/initdb" -D "$d/data" -U "$owner" -A trust \
	    -E UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1 ||
	    { cat "$d/initdb.log" >&2; fail "postgres: initdb failed"; }
	_pg_as_owner "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w \
	    -t 30 start -o "-c listen_addresses=127.0.0.1 -c port=$port \
	    -c unix_socket_directories=$d -c fsync=off \
	    -c full_page_writes=off -c synchronous_commit=off" >/dev/null ||
	    { tail -n 20 "$d/postgres.log" >&2; fail "postgres: start failed"; }
	PG_PID="$(head -n 1 "$d/data/postmaster.pid")"
	track_pid "$PG_PID" postgres
	export PGHOST=127.0.0.1 PGPORT="$port" PGUSER="$owner" PGDATABASE="$db"
	export DATABASE_URL="postgresql://$owner@127.0.0.1:$port/$db"
	_pg_as_owner "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$owner" \
	    "$db" || fail "postgres: createdb $db failed"
}

pg_stop() { # DIR
	[ -f "$1/data/postmaster.pid" ] || return 0
	_pg_as_owner "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null
}

pg_psql() { # SQL...
	psql -X -q -v ON_ERROR_STOP=1 "$@"
}

pg_migrate() { # applies enrich/sql with the project's own tool, as deployed
	local log="${T:-/tmp}/crm-migrate.log"
	[ -x "$B/crm-migrate" ] || fail "build first: make $B/crm-migrate"
	"$B/crm-migrate" -s "$ROOT/enrich/sql" >"$log" 2>&1 ||
	    { cat "$log" >&2; fail "crm-migrate failed"; }
}
