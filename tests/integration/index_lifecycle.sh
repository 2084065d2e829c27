#!/usr/bin/env bash
# index_lifecycle.sh - crm-index's life on a handful of messages, with no
# timing bound, so that the same steps run under valgrind
# (make check-valgrind) where the forward pass is about 30 times slower:
# real Kafka + real PostgreSQL 15 + crm-enrich + crm-index (the real
# all-MiniLM-L6-v2 model, the embedded vector store) + crm-search.
#
#   1. six messages (four for acme, one of them long enough for two
#      chunks, two for globex on the same topics) are indexed; each
#      message is found by a paraphrase in its own tenant, never in the
#      other
#   2. SIGTERM: crm-index exits 0 and says so; the store is consistent
#      (every message has its chunks, numbered without gaps, one vector
#      per chunk row)
#   3. the two states a kill between two writes leaves (rows committed
#      but still queued; vectors written but rows not), made by hand:
#      indexing again restores the rows and adds no vector
#   4. purge: crm-admin removes a correspondent; crm-index removes the
#      chunks and vectors of the deleted messages
#   5. the vector store unreachable (a Qdrant URL where nothing listens):
#      crm-index backs off, counts no attempt, stops on SIGTERM at once;
#      a working instance then indexes what waited
#
# Volume, latency and kill -9 during a burst are search_index's.
. "$(dirname "$0")/../lib/common.sh"
scenario_init index_lifecycle 43
. "$TLIB/enrich.sh"
. "$TLIB/index.sh"
GENI="$ROOT/tests/integration/search_index.py"
# generous waits: under memcheck a short message takes about 20 s
W=1800

make -s -C "$ROOT" B="$B" "$B/crm-enrich" "$B/crm-migrate" "$B/crm-admin" \
	"$B/crm-index" "$B/crm-search" "$B/crm-vec" >/dev/null || fail "build"
enrich_stack
index_stack
enrich_start a
index_start_wait a

step "six messages indexed, each found in its own tenant only"
"$PY" "$GENI" gen "$T/acme" --tenant acme --count 3 --start 700 --variant V
"$PY" "$GENI" gen "$T/acme-long" --tenant acme --count 1 --start 710 \
	--variant V --background 8
"$PY" "$GENI" gen "$T/globex" --tenant globex --count 2 --start 700 --variant V
for d in acme acme-long globex; do
	produce_manifest "$T/$d/manifest.tsv"
done
wait_sql "SELECT count(*) FROM messages" 6 "$W"
index_wait_idle "$W"
long_key="$(cut -f1 "$T/acme-long/queries.tsv")"
long_chunks="$(sql "SELECT count(*) FROM message_chunks WHERE message_key = '$long_key'")"
[ "$long_chunks" -ge 2 ] || fail "the long message has $long_chunks chunks"
all_keys() { cut -f1 "$T/$1/queries.tsv"; [ "$1" = acme ] && cut -f1 "$T/acme-long/queries.tsv"; }
searches=0
for own in acme globex; do
	other=globex; [ "$own" = globex ] && other=acme
	while IFS=$'\t' read -r key topic query; do
		got="$(search_keys "$own" "$query" 10)" || fail "crm-search $own"
		grep -qxF "$key" <<<"$got" ||
		    fail "$own: topic $topic not found by \"$query\": $got"
		grep -qxF -f <(all_keys "$other") <<<"$got" &&
		    fail "$own: a search returned a message of $other"
		got="$(search_keys "$other" "$query" 10)" || fail "crm-search $other"
		grep -qxF "$key" <<<"$got" &&
		    fail "$other: found $own's message by \"$query\""
		searches=$((searches + 2))
	done <"$T/$own/queries.tsv"
done
note "$searches searches: each message found in its tenant, none across; the long message has $long_chunks chunks"

step "SIGTERM, and a consistent store"
index_sigterm a "$W"
index_consistency acme
index_consistency globex

step "the two crash windows, reproduced exactly"
# A kill rarely lands in the few milliseconds between two writes, so the
# states it would leave are made by hand (as the superuser) and crm-index
# is started on them:
#  a. chunk rows committed, queue rows not yet deleted: a short message
#     queued again;
#  b. vectors written, chunk rows not committed: the long message loses
#     its rows and is queued again.
short_key="$(head -n 1 "$T/acme/queries.tsv" | cut -f1)"
rows_before="$(sql "SELECT count(*) FROM message_chunks WHERE tenant_id = 'acme'")"
dead_before="$(vec_stat acme dead_bytes)"
sql "INSERT INTO index_queue (tenant_id, message_id, message_key, op)
    SELECT tenant_id, id, idempotency_key, 'index' FROM messages
    WHERE idempotency_key IN ('$short_key', '$long_key')" >/dev/null
sql "DELETE FROM message_chunks WHERE message_key = '$long_key'" >/dev/null
index_start w
index_wait_idle "$W"
stop_pid "$INDEX_PID_w" "$W" || fail "crm-index w did not stop"
[ "$(sql "SELECT count(*) FROM message_chunks WHERE tenant_id = 'acme'")" = "$rows_before" ] ||
	fail "chunk rows changed after re-indexing"
index_consistency acme
dead_after="$(vec_stat acme dead_bytes)"
[ "$dead_after" -gt "$dead_before" ] || fail "no vector was rewritten"
note "2 messages indexed again: rows and vectors unchanged in number, $((dead_after - dead_before)) log bytes of replaced vectors"

step "purge: crm-admin removes wendy@initrode.example from globex"
gone="$(sql "SELECT string_agg(m.idempotency_key, ' ') FROM messages m
    JOIN participants p ON p.message_id = m.id
    WHERE m.tenant_id = 'globex' AND p.address = 'wendy@initrode.example'")"
ngone="$(wc -w <<<"$gone")"
[ "$ngone" -gt 0 ] || fail "no message from wendy"
[ "$(sql "SELECT count(*) FROM message_chunks WHERE tenant_id = 'globex'
    AND message_key = ANY(string_to_array('$gone', ' '))")" -gt 0 ] ||
	fail "wendy's messages have no chunks to purge"
index_start d
"$ADMIN" -d "host=127.0.0.1 port=$PGPORT dbname=crm user=crm_enrich" purge \
	--tenant globex --address wendy@initrode.example >"$T/purge.log" 2>&1 ||
	{ cat "$T/purge.log"; fail "crm-admin purge"; }
index_wait_idle "$W"
left="$(sql "SELECT count(*) FROM message_chunks WHERE tenant_id = 'globex'
    AND message_key = ANY(string_to_array('$gone', ' '))")"
[ "$left" = 0 ] || fail "$left chunk rows of purged messages remain"
stop_pid "$INDEX_PID_d" "$W" || fail "crm-index d did not stop"
index_consistency globex
[ "$(vec_count globex)" -gt 0 ] || fail "the purge emptied globex's store"
note "$ngone purged message: chunks and vectors removed, the rest kept"

step "vector store unreachable: waited out, no attempt counted"
# A Qdrant URL where nothing listens (a refused connection is real): every
# write fails, so crm-index must back off and keep the messages queued
# with no failure counted against them, then a working instance indexes
# them.
alloc_port DEADPORT
sed -e '/^\[vector\]/,/^\[/{/^backend =/s/.*/backend = qdrant/;/^data_dir =/s|.*|url = http://127.0.0.1:'"$DEADPORT"'|}' \
    "$T/index.conf" >"$T/index-down.conf"
"$INDEX" --check -c "$T/index-down.conf" >/dev/null || fail "down config"
index_start_wait down "$T/index-down.conf"
"$PY" "$GENI" gen "$T/down" --tenant acme --count 2 --start 950 --variant D
produce_manifest "$T/down/manifest.tsv"
for i in $(seq 1 "$((W * 10))"); do
	[ "$(grep -c 'indexing unavailable, retrying in' "$T/index-down.log")" -ge 3 ] && break
	sleep 0.1
done
grep -c 'indexing unavailable' "$T/index-down.log" | grep -qv '^[012]$' ||
	{ cat "$T/index-down.log"; fail "no backoff logged"; }
[ "$(sql "SELECT count(*) || '/' || max(attempts) FROM index_queue")" = "2/0" ] ||
	fail "queue after the outage: $(sql "SELECT count(*) || '/' || max(attempts) FROM index_queue")"
t0=$(now_ms)
stop_pid "$INDEX_PID_down" 60 || fail "crm-index did not stop during its backoff"
note "2 messages kept queued, 0 attempts counted; $(grep -o 'retrying in [0-9]* ms' "$T/index-down.log" | tail -n 1) last; SIGTERM during the backoff: $(( $(now_ms) - t0 )) ms"
index_start_wait up
index_wait_idle "$W"
stop_pid "$INDEX_PID_up" "$W" || fail "crm-index up did not stop"
index_consistency acme

if grep -nE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation|assertion' \
    "$T"/index-*.log "$T"/enrich-*.log; then
	fail "a sanitizer or an assertion fired"
fi
pass "indexed, searched per tenant, stopped, re-indexed, purged and backed off on 8 messages"
