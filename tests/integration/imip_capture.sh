#!/usr/bin/env bash
# imip_capture.sh - iMIP invitations in submitted mail become calendar
# records.
#
# Real parts: swaks submits through crm-proxy's SMTP listener (STARTTLS +
# AUTH) to the provider (aiosmtpd, tests/lib/smtp.sh); the SMTP tap
# spools the message, crm-capture ships it to crm.mail.v1 on a real
# Apache Kafka broker (tests/lib/kafka.sh), crm-imip consumes it and
# publishes to crm.calendar.v1; kcat reads both topics.
#
# Proves: an Outlook-style invitation (multipart/alternative with a
# base64 text/calendar; method=REQUEST) gives exactly one calendar record
# whose value is byte-identical to the decoded part, with the documented
# key, headers and idempotency key; the same invitation sent again (new
# Message-ID and DTSTAMP) keeps one distinct idempotency key; SEQUENCE+1
# (Google-style message) gives a second key, a CANCEL a third; a message
# whose calendar part is garbage gives no record and is logged, and the
# reply after it is still published (a fourth key); offsets are committed
# (a restart in the group republishes nothing) and a full replay by a new
# group republishes the same records with the same keys.
. "$(dirname "$0")/../lib/common.sh"
. "$TLIB/certs.sh"
. "$TLIB/smtp.sh"
. "$TLIB/kafka.sh"

scenario_init imip_capture 8
need_cmd swaks kcat java
[ -x "$B/crm-proxy" ] && [ -x "$B/crm-capture" ] && [ -x "$B/crm-imip" ] ||
	fail "build first: make"
kafka_require
GEN="$(dirname "$0")/imip_gen.py"

step "servers"
certs_make "$T/certs" || fail "certificates"
CA="$T/certs/ca.pem"
smtp_start
alloc_port KPORT
alloc_port KCTL
[ "$KCTL" = $((KPORT + 1)) ] || fail "no two adjacent ports for Kafka"
kafka_start "$T/kafka" "$KPORT"
kafka_create_topic crm.mail.v1
kafka_create_topic crm.calendar.v1

cat >"$T/capture.conf" <<CONF
[spool]
dir = $T/spool
poll_interval_ms = 20
ack_interval_ms = 100
[kafka]
brokers = $KAFKA_BOOTSTRAP
message_max = 65m
[log]
level = info
CONF
"$B/crm-capture" -c "$T/capture.conf" >>"$T/capture.log" 2>&1 &
track_pid $! crm-capture

cat >"$T/imip.conf" <<CONF
[kafka]
brokers = $KAFKA_BOOTSTRAP
group_id = imip-test
commit_interval_ms = 200
session_timeout = 10s
[log]
level = debug
CONF
"$B/crm-imip" --check -c "$T/imip.conf" >/dev/null || fail "crm-imip config"
printf '[kafka]\nbrokers = x\nsession_timeout = 1h\n' >"$T/bad.conf"
out="$("$B/crm-imip" --check -c "$T/bad.conf" 2>&1)" &&
	fail "crm-imip accepted a bad session_timeout"
case "$out" in *"bad.conf:3:"*) ;; *) fail "no file:line: $out" ;; esac
note "config check: $out"
"$B/crm-imip" -c "$T/imip.conf" >>"$T/imip.log" 2>&1 &
IMIP_PID=$!
track_pid "$IMIP_PID" crm-imip

alloc_port PROXY_587
user=""
[ "$(id -u)" = 0 ] && user="user = nobody"
mkdir -p "$T/spool"
[ "$(id -u)" = 0 ] && chown nobody "$T/spool"
cat >"$T/crm-proxy.conf" <<CONF
[proxy]
workers = 1
$user
log_level = info

[listen submission]
protocol = smtp
address = 127.0.0.1:$PROXY_587
tls = starttls
cert = $T/certs/proxy.pem
key = $T/certs/proxy.key

[upstream provider]
smtp_address = 127.0.0.1:$SMTPD_SMTPS
smtp_tls = implicit
ca_file = $CA
smtp_server_name = localhost

[capture]
spool_dir = $T/spool
tenant = acme

[route]
default = provider
CONF
"$B/crm-proxy" -c "$T/crm-proxy.conf" -F >>"$T/crm-proxy.log" 2>&1 &
PROXY_PID=$!
track_pid "$PROXY_PID" crm-proxy
wait_port "$PROXY_587" 10 "$PROXY_PID" ||
	{ tail -20 "$T/crm-proxy.log"; fail "proxy not listening"; }

send() { # NAME generator-args...
	local name="$1"
	shift
	"$PY" "$GEN" mail "$T/$name.eml" "$T/$name.ics" "$@" ||
		fail "generate $name"
	swaks --silent 2 --server "127.0.0.1:$PROXY_587" --tls --tls-verify \
	    --tls-ca-path "$CA" --auth PLAIN --auth-user alice \
	    --auth-password alicepw --from alice@example.test \
	    --to bob@customer.test --data "@$T/$name.eml" ||
		fail "swaks $name"
}

# wait_cal N: until crm.calendar.v1 holds N records; prints the count
wait_cal() {
	"$PY" "$GEN" read "$KAFKA_BOOTSTRAP" crm.calendar.v1 "$T/cal.jsonl" \
	    --expect "$1" --timeout "${2:-30}"
}

# check: the records on crm.calendar.v1 against the .ics files
check() { # EXPECTED-RECORDS EXPECTED-KEYS
	"$PY" - "$T" "$1" "$2" <<'PYEOF'
import hashlib, json, sys
t, nrec, nkeys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
recs = [json.loads(l) for l in open(t + "/cal.jsonl")]
bad = []
def key(method, uid, seq):
    return hashlib.sha256(b"\0".join([b"crm-idkey/1", b"acme", b"imip",
        method.encode(), uid.encode(), str(seq).encode(), b""])).hexdigest()
exp = {  # .ics name -> method, uid, sequence
    "invite": ("REQUEST", "040000008200E00074C5B7101A82E00800000000A1B2"
               "@example.test", 0),
    "again": ("REQUEST", "040000008200E00074C5B7101A82E00800000000A1B2"
              "@example.test", 0),
    "update": ("REQUEST", "040000008200E00074C5B7101A82E00800000000A1B2"
               "@example.test", 1),
    "cancel": ("CANCEL", "040000008200E00074C5B7101A82E00800000000A1B2"
               "@example.test", 2),
    "reply": ("REPLY", "040000008200E00074C5B7101A82E00800000000A1B2"
              "@example.test", 2),
}
if len(recs) != nrec:
    bad.append("%d records, expected %d" % (len(recs), nrec))
order = ["invite", "again", "update", "cancel", "reply"]
for i, r in enumerate(recs):
    if i >= len(order):
        bad.append("extra record %r" % r["headers"]); continue
    name = order[i]
    method, uid, seq = exp[name]
    want = open("%s/%s.ics" % (t, name), "rb").read()
    if r["payload"].encode("utf-8") != want:
        bad.append("%s: value differs from the decoded part" % name)
    h = r["headers"]
    for k, v in [("schema", "crm.calendar/1"), ("tenant", "acme"),
                 ("user", "alice"), ("direction", "out"),
                 ("source", "imip"), ("ical-component", "VEVENT"),
                 ("ical-uid", uid), ("ical-sequence", str(seq)),
                 ("ical-method", method),
                 ("dtstart", "TZID=W. Europe Standard Time:20261210T100000")]:
        if h.get(k) != v:
            bad.append("%s: header %s=%r, expected %r" % (name, k,
                       h.get(k), v))
    org, att = (("bob@customer.test", "alice@example.test")
                if method == "REPLY" else
                ("alice@example.test", "bob@customer.test"))
    if h.get("organizer") != org or h.get("attendees") != att:
        bad.append("%s: organizer/attendees %r %r" % (name,
                   h.get("organizer"), h.get("attendees")))
    if r.get("key") != "acme/alice":
        bad.append("%s: key %r" % (name, r.get("key")))
    if len(h.get("mail-idempotency-key", "")) != 64 or \
       len(h.get("observed-at", "")) != 24:
        bad.append("%s: mail-idempotency-key / observed-at missing" % name)
    ik = h.get("idempotency-key", "")
    if method != "REPLY" and ik != key(method, uid, seq):
        bad.append("%s: idempotency-key %s, expected %s" % (name, ik,
                   key(method, uid, seq)))
    if method == "REPLY" and (len(ik) != 64 or
                              ik == key(method, uid, seq)):
        bad.append("reply: idempotency-key %r" % ik)
keys = {r["headers"].get("idempotency-key") for r in recs}
if len(keys) != nkeys:
    bad.append("%d distinct idempotency keys, expected %d" % (len(keys),
               nkeys))
if bad:
    print("\n".join(bad)); sys.exit(1)
print("%d records, %d distinct keys: ok" % (len(recs), len(keys)))
PYEOF
}

UID1="040000008200E00074C5B7101A82E00800000000A1B2@example.test"

step "an Outlook invitation"
t0=$(now_ms)
send invite --uid "$UID1" --seq 0 --method REQUEST
n="$(wait_cal 1)"
lat=$(($(now_ms) - t0))
check 1 1 || fail "first invitation"
note "swaks -> crm.calendar.v1: $lat ms"
# one mail record, and it is the message the provider stored
n="$(kcat -b "$KAFKA_BOOTSTRAP" -C -t crm.mail.v1 -o beginning -e -q \
    -f '%S\n' | wc -l)"
[ "$n" = 1 ] || fail "$n records on crm.mail.v1, expected 1"

step "the same invitation again (new Message-ID, new DTSTAMP)"
send again --uid "$UID1" --seq 0 --method REQUEST --dtstamp 20261126T031500Z
wait_cal 2 >/dev/null
check 2 1 || fail "re-sent invitation"

step "an update (SEQUENCE 1, Google-style message)"
send update --uid "$UID1" --seq 1 --method REQUEST --style google \
    --dtstamp 20261126T033000Z
wait_cal 3 >/dev/null
check 3 2 || fail "update"

step "a cancellation"
send cancel --uid "$UID1" --seq 2 --method CANCEL --dtstamp 20261126T034000Z
wait_cal 4 >/dev/null
check 4 3 || fail "cancel"

step "a garbage calendar part, then a reply"
send garbage --garbage
send reply --uid "$UID1" --seq 2 --method REPLY --dtstamp 20261126T035000Z \
    --from alice@example.test --to bob@customer.test
wait_cal 5 >/dev/null
check 5 4 || fail "after the garbage part"
grep -q "1 broken calendar part(s) not published" "$T/imip.log" ||
	{ tail -20 "$T/imip.log"; fail "broken part not logged"; }
[ "$(grep -c "broken calendar part" "$T/imip.log")" = 1 ] ||
	fail "broken part logged more than once"
n="$(kcat -b "$KAFKA_BOOTSTRAP" -C -t crm.mail.v1 -o beginning -e -q \
    -f '%S\n' | wc -l)"
[ "$n" = 6 ] || fail "$n records on crm.mail.v1, expected 6"
note "6 mail records, 5 calendar records, 4 distinct keys"

step "stop"
kill -TERM "$IMIP_PID"
for _ in $(seq 1 100); do kill -0 "$IMIP_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$IMIP_PID" 2>/dev/null && fail "crm-imip did not stop on TERM"
grep "exit: mail 6, published 5, broken parts 1 in 1 message" \
    "$T/imip.log" >/dev/null || { tail -5 "$T/imip.log"; fail "exit stats"; }
# committed: a restarted consumer in the same group publishes nothing more
"$B/crm-imip" -c "$T/imip.conf" >>"$T/imip2.log" 2>&1 &
IMIP2=$!
track_pid "$IMIP2" crm-imip-2
for _ in $(seq 1 100); do
	grep -q "partitions assigned" "$T/imip2.log" && break
	sleep 0.1
done
sleep 2
[ "$(wait_cal 6 1)" = 5 ] || fail "restart republished committed mail"
kill -TERM "$IMIP2"
note "restart after commit: nothing republished"

step "a full replay (new group) collapses by key"
sed 's/^group_id = .*/group_id = imip-replay/' "$T/imip.conf" >"$T/replay.conf"
"$B/crm-imip" -c "$T/replay.conf" >>"$T/imip3.log" 2>&1 &
track_pid $! crm-imip-replay
[ "$(wait_cal 10 30)" = 10 ] || fail "replay did not republish the 5 records"
"$PY" - "$T/cal.jsonl" <<'PYEOF' || fail "replay changed the keys"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
first = [(r["headers"]["idempotency-key"], r["payload"]) for r in recs[:5]]
again = [(r["headers"]["idempotency-key"], r["payload"]) for r in recs[5:]]
assert len(recs) == 10, len(recs)
assert sorted(first) == sorted(again), "replayed records differ"
assert len({k for k, _ in first + again}) == 4
print("  replay: 10 records, 4 distinct keys, replayed records identical")
PYEOF
pass "invitation, re-send, update, cancel, garbage, reply"
