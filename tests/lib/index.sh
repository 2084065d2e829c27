# tests/lib/index.sh - the semantic layer on top of the enrichment stack:
# crm-index following PostgreSQL into the embedded vector store, and
# crm-search reading it.  Source after tests/lib/common.sh, scenario_init
# and tests/lib/enrich.sh (enrich_stack sets PGPORT and KAFKA_BOOTSTRAP).
#
#   index_stack                  the model (fetch-model.sh, cached), roles
#                                crm_enrich / crm_api able to log in, and
#                                $T/index.conf + $T/search.conf
#   index_conf FILE              a crm-index.conf for this stack
#   search_conf FILE [ROLE]      a crm-search.conf (role crm_api, read-only;
#                                crm_enrich for crm-search-ingest)
#   index_start NAME [CONF]      -> INDEX_PID_<NAME>, log $T/index-NAME.log
#   index_start_wait NAME [CONF] the same, then wait for its "started:"
#                                line (model loaded, LISTENing)
#   index_wait_idle [SECS]       until the queue is empty (as superuser)
#   search_keys TENANT QUERY [N] the message keys crm-search returns, one a
#                                line, best first
#   vec_count TENANT             points in TENANT's store (crm-vec; only
#                                while no crm-index holds the store)
#   vec_stat TENANT FIELD        another line of `crm-vec count` (rows,
#                                dead_bytes, replayed_records, ...)
#   index_sigterm NAME [SECS]    SIGTERM to crm-index NAME: it must exit 0
#                                with its "stopped:" line, having listed
#                                acme and globex in its tenants file
#   index_consistency TENANT     fails unless every message of TENANT has
#                                its chunks, numbered without gaps, and
#                                the store holds one vector per chunk row
#                                (only while no crm-index holds the store)
#
# Everything stays in $T: vectors in $T/vec, the tenants crm-index has
# seen in $T/vec/.crm-index-tenants (its default place).
INDEX="$B/crm-index"
SEARCH="$B/crm-search"
VEC="$B/crm-vec"

index_stack() {
	[ -x "$INDEX" ] && [ -x "$SEARCH" ] && [ -x "$VEC" ] ||
	    fail "build first: make $INDEX $SEARCH $VEC"
	INDEX_MODEL="$("$ROOT/enrich/embed/fetch-model.sh" | tail -n 1)" ||
	    skip "cannot fetch the embedding model (registry unreachable?)"
	pg_psql -c "ALTER ROLE crm_enrich LOGIN; ALTER ROLE crm_api LOGIN;" \
	    >/dev/null || fail "roles"
	index_conf "$T/index.conf"
	search_conf "$T/search.conf"
	"$INDEX" --check -c "$T/index.conf" >/dev/null ||
	    fail "crm-index --check rejects the scenario's config"
}

_index_common_conf() { # ROLE
	cat <<CONF
[embed]
backend = local
model_dir = $INDEX_MODEL

[vector]
backend = local
data_dir = $T/vec

[database]
conninfo = host=127.0.0.1 port=$PGPORT dbname=crm user=$1
CONF
}

index_conf() { # FILE
	{
		_index_common_conf crm_enrich
		cat <<CONF

[index]
batch = ${INDEX_BATCH:-32}
poll_interval = ${INDEX_POLL:-30s}

[log]
level = ${INDEX_LOG_LEVEL:-info}
CONF
	} >"$1"
}

search_conf() { # FILE [ROLE]
	_index_common_conf "${2:-crm_api}" >"$1"
}

index_start() { # NAME [CONF]
	"$INDEX" -c "${2:-$T/index.conf}" >>"$T/index-$1.log" 2>&1 &
	printf -v "INDEX_PID_${1//-/_}" '%s' "$!"
	track_pid "$!" "crm-index $1"
}

index_start_wait() { # NAME [CONF]
	local i pid
	index_start "$@"
	pid="$(eval echo "\$INDEX_PID_${1//-/_}")"
	# the model loads in about a second, in several under valgrind
	for i in $(seq 1 1200); do
		# -s: the background job may not have opened its log yet
		grep -qs 'started:' "$T/index-$1.log" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/index-$1.log" >&2
	fail "crm-index $1 did not start"
}

index_wait_idle() { # [SECS]
	wait_sql "SELECT count(*) FROM index_queue" 0 "${1:-120}"
}

search_keys() { # TENANT QUERY [N]
	"$SEARCH" -c "$T/search.conf" --tenant "$1" --json --no-dates \
	    -n "${3:-10}" "$2" |
	    "$PY" -c 'import json, sys
for a in json.load(sys.stdin)["accounts"]:
    for r in a["results"]:
        print(r["rank"], r["message_key"])' | sort -n | cut -d' ' -f2
}

vec_count() { # TENANT
	"$VEC" count --dir "$T/vec" --tenant "$1" --dim 384 |
	    sed -n 's/^count=\([0-9][0-9]*\)$/\1/p'
}

vec_stat() { # TENANT FIELD
	"$VEC" count --dir "$T/vec" --tenant "$1" --dim 384 |
	    sed -n "s/^$2=\([0-9][0-9]*\)\$/\1/p" | head -n 1
}

index_consistency() { # TENANT
	local t="$1" msgs keys rows vecs gaps
	msgs="$(sql "SELECT count(*) FROM messages WHERE tenant_id = '$t'")"
	keys="$(sql "SELECT count(DISTINCT message_key) FROM message_chunks
	    WHERE tenant_id = '$t'")"
	rows="$(sql "SELECT count(*) FROM message_chunks WHERE tenant_id = '$t'")"
	gaps="$(sql "SELECT count(*) FROM (SELECT message_key FROM message_chunks
	    WHERE tenant_id = '$t' GROUP BY message_key
	    HAVING max(chunk_no) + 1 <> count(*)) s")"
	vecs="$(vec_count "$t")"
	note "$t: messages=$msgs keyed=$keys chunk_rows=$rows vectors=$vecs (vectors rewritten: $(vec_stat "$t" dead_bytes) dead log bytes)"
	[ "$keys" = "$msgs" ] || fail "$t: $msgs messages but $keys have chunks"
	[ "$(sql "SELECT count(*) FROM messages m WHERE tenant_id = '$t' AND NOT EXISTS
	    (SELECT 1 FROM message_chunks c WHERE c.tenant_id = m.tenant_id
	     AND c.message_key = m.idempotency_key)")" = 0 ] ||
	    fail "$t: a message has no chunks"
	[ "$gaps" = 0 ] || fail "$t: $gaps messages with chunk numbers missing"
	[ "$vecs" = "$rows" ] || fail "$t: $rows chunk rows but $vecs vectors"
}

index_sigterm() { # NAME [SECS]
	local pid t0 rc tf="$T/vec/.crm-index-tenants"
	pid="$(eval echo "\$INDEX_PID_${1//-/_}")"
	t0=$(now_ms)
	stop_pid "$pid" "${2:-20}" || fail "crm-index $1 did not stop on SIGTERM"
	wait "$pid"; rc=$?
	[ "$rc" = 0 ] || fail "crm-index $1 exited $rc on SIGTERM"
	grep -q 'stopped: indexed=' "$T/index-$1.log" || fail "no stop line"
	note "exited 0 in $(( $(now_ms) - t0 )) ms: $(grep 'stopped:' "$T/index-$1.log" | sed 's/.*stopped: //')"
	grep -qx acme "$tf" && grep -qx globex "$tf" ||
	    fail "tenants file: $(cat "$tf")"
}
