#!/usr/bin/env bash
# tap_outage.sh - Kafka stopped for a while under load through the proxy:
# mail flows the whole time, and afterwards every message is on Kafka
# exactly once (by idempotency key).
#
# Dovecot holds mailgen's 500 messages.  Two imaplib clients fetch
# disjoint halves through the proxy, paced so the load spans the outage.
# One second in, the Kafka broker is stopped; eight seconds later it is
# started again.  The clients must get every message right (checked
# against Dovecot directly) with fetches completing while Kafka was down;
# then kcat must read 500 records with 500 distinct idempotency keys, the
# keys of the 500 messages, and values identical to Dovecot's.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"
. "$TLIB/tap.sh"

scenario_init tap_outage 11
need_cmd kcat
[ -x "$B/crm-proxy" ] && [ "${CRM_TEST_DIRECT:-}" != 1 ] ||
	skip "the tap lives in crm-proxy: no direct mode"
dovecot_start
"$PY" "$TLIB/mailgen.py" maildir --count 500 "$T/corpus" >/dev/null ||
	fail "mailgen"
dovecot_import alice "$T/corpus" || fail "doveadm import"
"$PY" "$TAP_CHECK" inventory 127.0.0.1 "$DOVE_IMAP" alice alicepw \
	"$T/inventory.json" INBOX || fail "inventory"
tap_kafka_start
tap_capture_start
tap_proxy_capture acme
target_start
LOAD="$HERE/tap_load.py"

step "load through the proxy; Kafka down for 8 s in the middle"
pids=()
for h in 0 1; do
	"$PY" "$LOAD" fetch "$TARGET_HOST" "$TARGET_IMAP" "$TARGET_CA" alice \
		alicepw $((h * 250 + 1)) $((h * 250 + 250)) "$T/done.txt" \
		--pace 30 &
	pids+=($!)
done
sleep 1
down="$("$PY" -c 'import time; print("%.6f" % time.time())')"
kafka_stop "$T/kafka"
note "kafka stopped"
sleep 8
up="$("$PY" -c 'import time; print("%.6f" % time.time())')"
kafka_start "$T/kafka" "${KAFKA_BOOTSTRAP##*:}"
note "kafka started again"
for p in "${pids[@]}"; do wait "$p" || fail "a client failed during the outage"; done
during="$(awk -v a="$down" -v b="$up" '$2 > a && $2 < b' "$T/done.txt" | wc -l)"
note "$(wc -l <"$T/done.txt") fetches completed, $during of them while Kafka was down"
[ "$during" -gt 20 ] || fail "mail did not flow while Kafka was down ($during fetches)"

step "every message on Kafka exactly once"
n="$(tap_kafka_read crm.mail.v1 "$T/kafka.jsonl" --expect 500 --timeout 180)"
sleep 3
n="$(tap_kafka_read crm.mail.v1 "$T/kafka.jsonl")"
"$PY" - "$T/inventory.json" "$T/done.txt" "$T/kafka.jsonl" <<'PYEOF' || fail "exactly-once check"
import hashlib, json, sys, collections
inv = json.load(open(sys.argv[1]))["INBOX"]["uids"]
for l in open(sys.argv[2]):
    uid, t, sha, size = l.split()
    assert inv[uid][0] == sha, "client got a wrong message for uid %s" % uid
def idkey(mid, sha):
    if mid:
        d = b"crm-idkey/1\0acme\0message-id\0" + mid.encode("latin-1")
    else:
        d = b"crm-idkey/1\0acme\0content\0" + bytes.fromhex(sha)
    return hashlib.sha256(d).hexdigest()
want = {idkey(v[2], v[0]): u for u, v in inv.items()}
recs = [json.loads(l) for l in open(sys.argv[3])]
keys = collections.Counter(r["headers"]["idempotency-key"] for r in recs)
dups = [k for k, c in keys.items() if c > 1]
bad = [r for r in recs if inv.get(r["headers"].get("uid"), [None])[0] != r["sha256"]]
print("  %d records, %d distinct idempotency keys, %d duplicated, %d missing, %d corrupt"
      % (len(recs), len(keys), len(dups), len(set(want) - set(keys)), len(bad)))
sys.exit(0 if len(recs) == 500 and set(keys) == set(want) and not dups and not bad else 1)
PYEOF
note "crm-capture log: $(grep -c -i 'kafka' "$T/capture.log") kafka lines (outage reported)"
proxy_alive
proxy_check_log
pass "mail flowed through an 8 s Kafka outage; 500 messages on Kafka exactly once"
