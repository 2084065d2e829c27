# tests/lib/enrich.sh - shared by the enrich_* scenarios: PostgreSQL with
# the schema migrated, a real Kafka broker with the topics, crm-enrich
# started/stopped by PID, test events produced with kcat.  Source after
# tests/lib/common.sh and scenario_init.
#
#   enrich_stack                 pg + migrations + kafka + topics
#   enrich_conf FILE [GROUP]     a crm-enrich.conf for this stack
#   enrich_start NAME [GROUP]    -> ENRICH_PID_<NAME> (- becomes _), log
#                                $T/enrich-NAME.log; with ENRICH_STAMP=1
#                                every log line starts with the wall-clock
#                                time it was written, in microseconds
#   db_dump FILE                 every table of the schema as COPY text,
#                                rows ordered by primary key (or by the
#                                whole row): equal files = equal data
#   produce_manifest FILE [N]    every record of an enrich_gen.py manifest
#   sql QUERY                    one value, as the superuser (sees all rows)
#   wait_sql QUERY VALUE [SECS]
. "$TLIB/postgres.sh"
. "$TLIB/kafka.sh"
ENRICH="$B/crm-enrich"
MIGRATE="$B/crm-migrate"
ADMIN="$B/crm-admin"
GEN="$ROOT/tests/integration/enrich_gen.py"

enrich_stack() {
	local pgport kport kport2
	[ -x "$ENRICH" ] && [ -x "$MIGRATE" ] && [ -x "$ADMIN" ] ||
	    fail "build first: make $ENRICH $MIGRATE $ADMIN"
	need_cmd kcat psql
	[ -x "${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ] ||
	    skip "postgresql-15 missing (packaging/deps.sh test)"
	kafka_require
	alloc_port pgport
	pg_start "$T/pg" "$pgport" crm
	"$MIGRATE" -s "$ROOT/enrich/sql" >"$T/migrate.log" 2>&1 ||
	    { cat "$T/migrate.log"; fail "crm-migrate"; }
	# the broker needs PORT and PORT+1
	alloc_port kport
	alloc_port kport2
	[ "$kport2" = $((kport + 1)) ] || fail "no two adjacent ports"
	kafka_start "$T/kafka" "$kport"
	kafka_create_topic crm.mail.v1
	kafka_create_topic crm.calendar.v1
	kafka_create_topic crm.deadletter.v1
}

enrich_conf() { # FILE [GROUP]
	cat >"$1" <<CONF
[database]
conninfo = host=127.0.0.1 port=$PGPORT dbname=crm user=crm_enrich
[kafka]
brokers = $KAFKA_BOOTSTRAP
group_id = ${2:-crm-enrich}
session_timeout = 6s
max_poll_interval = 60s
commit_interval_ms = 200
[retry]
initial_ms = 100
max_ms = 2000
[log]
level = ${ENRICH_LOG_LEVEL:-debug}
CONF
}

enrich_start() { # NAME [GROUP]
	enrich_conf "$T/enrich-$1.conf" "${2:-crm-enrich}"
	if [ "${ENRICH_STAMP:-}" = 1 ]; then
		# The daemon writes its log unbuffered; the reader stamps each
		# line as the pipe delivers it (microseconds after the write).
		"$ENRICH" -c "$T/enrich-$1.conf" > >("$PY" -u -c '
import sys, time
for line in sys.stdin.buffer:
    sys.stdout.buffer.write(b"%d " % (time.time_ns() // 1000) + line)
    sys.stdout.buffer.flush()' >>"$T/enrich-$1.log") 2>&1 &
	else
		"$ENRICH" -c "$T/enrich-$1.conf" >>"$T/enrich-$1.log" 2>&1 &
	fi
	printf -v "ENRICH_PID_${1//-/_}" '%s' "$!"
	track_pid "$!" "crm-enrich $1"
}

produce_manifest() { # FILE [FIRST] [COUNT]
	local first="${2:-1}" count="${3:-1000000}" line i=0
	local topic key file h args
	while IFS= read -r line; do
		i=$((i + 1))
		[ "$i" -lt "$first" ] && continue
		[ "$i" -ge $((first + count)) ] && break
		IFS=$'\t' read -r -a f <<<"$line"
		topic="${f[0]}" key="${f[1]}" file="${f[2]}"
		args=()
		for h in "${f[@]:3}"; do args+=(-H "$h"); done
		kcat -P -b "$KAFKA_BOOTSTRAP" -t "$topic" -k "$key" \
		    -X enable.idempotence=true "${args[@]}" "$file" ||
		    fail "kcat produce $file"
	done <"$1"
}

sql() {
	psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}

wait_sql() { # QUERY VALUE [SECS]
	local i v
	for ((i = 0; i < ${3:-60} * 5; i++)); do
		v="$(sql "$1" 2>/dev/null)"
		[ "$v" = "$2" ] && return 0
		sleep 0.2
	done
	fail "waited for [$1] = $2, last value: $v"
}

# Row counts of every table, one line, for before/after comparisons.
table_counts() {
	sql "SELECT string_agg(t || '=' || n, ' ' ORDER BY t) FROM (
	  SELECT 'tenants' t, count(*) n FROM tenants UNION ALL
	  SELECT 'tenant_domains', count(*) FROM tenant_domains UNION ALL
	  SELECT 'accounts', count(*) FROM accounts UNION ALL
	  SELECT 'account_domains', count(*) FROM account_domains UNION ALL
	  SELECT 'contacts', count(*) FROM contacts UNION ALL
	  SELECT 'contact_addresses', count(*) FROM contact_addresses UNION ALL
	  SELECT 'threads', count(*) FROM threads UNION ALL
	  SELECT 'thread_msgs', COALESCE(sum(message_count), 0) FROM threads UNION ALL
	  SELECT 'messages', count(*) FROM messages UNION ALL
	  SELECT 'participants', count(*) FROM participants UNION ALL
	  SELECT 'attachments', count(*) FROM attachments UNION ALL
	  SELECT 'meetings', count(*) FROM meetings UNION ALL
	  SELECT 'attendees', count(*) FROM attendees) s"
}

# The expected counts from enrich_gen.py's expected.json, per tenant,
# compared with the database.
check_expected() { # EXPECTED_JSON
	local t k want got
	for t in acme globex; do
		for k in messages participants threads attachments meetings \
		    attendees addresses accounts; do
			want="$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])" "$1" "$t" "$k")"
			case "$k" in
			addresses) got="$(sql "SELECT count(*) FROM contact_addresses WHERE tenant_id = '$t'")";;
			accounts) got="$(sql "SELECT count(*) FROM accounts WHERE tenant_id = '$t'")";;
			*) got="$(sql "SELECT count(*) FROM $k WHERE tenant_id = '$t'")";;
			esac
			[ "$got" = "$want" ] ||
			    fail "tenant $t: $k = $got, expected $want"
		done
		got="$(sql "SELECT COALESCE(sum(message_count), 0) FROM threads WHERE tenant_id = '$t'")"
		want="$(sql "SELECT count(*) FROM messages WHERE tenant_id = '$t' AND thread_id IS NOT NULL")"
		[ "$got" = "$want" ] ||
		    fail "tenant $t: threads count $got messages, $want are threaded (a record processed twice?)"
	done
	note "expected counts match for acme and globex"
}

wait_sql_ge() { # QUERY MIN [SECS]
	local i v
	for ((i = 0; i < ${3:-60} * 5; i++)); do
		v="$(sql "$1" 2>/dev/null)"
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		sleep 0.2
	done
	fail "waited for [$1] >= $2, last value: $v"
}

# Starts the stopped cluster in DIR again on $PGPORT (same options as
# pg_start), for outage tests.
pg_restart() { # DIR
	local d="$1"
	_pg_as_owner "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/postgres.log" -w \
	    -t 30 start -o "-c listen_addresses=127.0.0.1 -c port=$PGPORT \
	    -c unix_socket_directories=$d -c fsync=off \
	    -c full_page_writes=off -c synchronous_commit=off" >/dev/null ||
	    fail "postgres: restart failed"
	track_pid "$(head -n 1 "$d/data/postmaster.pid")" postgres
}

# Within one partition, one tenant's rows must have been inserted in
# offset order.  (A key is <tenant>/<user>: this covers every mailbox's
# order.  Tenants sharing a partition are independent, and crm-enrich
# writes a batch one tenant at a time, so their rows may interleave
# differently from the offsets.)
check_order() {
	local bad
	bad="$(sql "SELECT count(*) FROM (SELECT kafka_offset, lag(kafka_offset)
	    OVER (PARTITION BY kafka_topic, kafka_partition, tenant_id
	    ORDER BY id) AS prev FROM messages) s WHERE prev > kafka_offset")"
	[ "$bad" = 0 ] || fail "$bad messages were stored out of partition order"
}

db_dump() { # FILE
	local t order
	: >"$1"
	for t in $(sql "SELECT c.relname FROM pg_class c JOIN pg_namespace n
	    ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND
	    c.relkind = 'r' ORDER BY 1"); do
		order="$(sql "SELECT string_agg(quote_ident(a.attname), ', '
		    ORDER BY k.ord) FROM pg_index i, unnest(i.indkey) WITH
		    ORDINALITY k(attnum, ord), pg_attribute a WHERE
		    i.indrelid = 'public.$t'::regclass AND i.indisprimary AND
		    a.attrelid = i.indrelid AND a.attnum = k.attnum")"
		printf '== %s\n' "$t" >>"$1"
		psql -X -q -v ON_ERROR_STOP=1 -c "COPY (SELECT * FROM public.$t
		    AS r ORDER BY ${order:-r}) TO STDOUT" >>"$1" ||
			fail "db_dump: $t"
	done
}
