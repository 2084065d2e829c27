#!/usr/bin/env bash
# tap_capture.sh - every message a real client fetches or appends through
# crm-proxy lands on Kafka, byte for byte, with the right headers.
#
# Dovecot holds mailgen's 500-message mailbox (five 2-6 MB attachments).
# crm-proxy runs with capture on (tenant "acme" on the default route),
# crm-capture ships its spool to a real Kafka broker.  mbsync pulls the
# mailbox through the proxy; then kcat (an independent client) must read
# exactly 500 records from crm.mail.v1, each value identical to the message
# Dovecot serves for that UID (fetched directly, not through the proxy),
# with schema, tenant, user, direction, source, mailbox, uid, uidvalidity,
# the flags Dovecot holds (set here on a fifth of the messages; mbsync
# fetches them apart from the bodies) and the idempotency key recomputed
# here from the message.  Then imaplib
# through the proxy: an APPEND to a mailbox that does not exist (refused)
# and an APPEND to Sent: exactly one new record, outbound, source
# imap-append, UID and UIDVALIDITY from APPENDUID, value = the bytes sent.
# Last, bob's copy of the mailbox through a plaintext listener to a
# plaintext upstream (the relay's flat path, relay.c): the 500 answers
# must equal Dovecot's and 500 more records must match them byte for byte.
# The workers stage their spool writes (stage_dir, docs/spool.md) here;
# tap_kill and the other tap scenarios cover the plain writer.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"
. "$TLIB/tap.sh"

scenario_init tap_capture 7
need_cmd mbsync kcat
[ -x "$B/crm-proxy" ] && [ "${CRM_TEST_DIRECT:-}" != 1 ] ||
	skip "the tap lives in crm-proxy: no direct mode"
dovecot_start

step "load 500 messages into Dovecot"
"$PY" "$TLIB/mailgen.py" maildir --count 500 "$T/corpus" >/dev/null ||
	fail "mailgen"
dovecot_import alice "$T/corpus" || fail "doveadm import"
dovecot_import bob "$T/corpus" || fail "doveadm import bob"
# flags for the records to carry: mbsync fetches them apart from the bodies
"$PY" - 127.0.0.1 "$DOVE_IMAP" <<'PYEOF' || fail "STORE flags"
import imaplib, sys
c = imaplib.IMAP4(sys.argv[1], int(sys.argv[2]))
c.login("alice", "alicepw")
c.select("INBOX")
for uid in range(7, 501, 7):
    c.uid("STORE", str(uid), "+FLAGS", "(\\Flagged)")
for uid in range(11, 501, 11):
    c.uid("STORE", str(uid), "+FLAGS", "($Work \\Answered)")
c.logout()
PYEOF
"$PY" "$TAP_CHECK" inventory 127.0.0.1 "$DOVE_IMAP" alice alicepw \
	"$T/inventory.json" INBOX || fail "inventory"
"$PY" "$TAP_CHECK" inventory 127.0.0.1 "$DOVE_IMAP" bob bobpw \
	"$T/inventory-bob.json" INBOX || fail "inventory bob"

tap_kafka_start
tap_capture_start
# crm-capture looks its topics up when it starts, not when the first
# record for one arrives (that record used to wait up to a second, for
# librdkafka's periodic topic scan).  Seen from outside: the broker
# auto-creates crm.calendar.v1, a topic no record has gone to.  (kcat -L
# without -t asks for every topic and creates none.)
for i in $(seq 1 100); do
	kcat -b "$KAFKA_BOOTSTRAP" -L 2>/dev/null |
	    grep -q 'topic "crm.calendar.v1"' && break
	sleep 0.1
done
kcat -b "$KAFKA_BOOTSTRAP" -L 2>/dev/null | grep -q 'topic "crm.calendar.v1"' ||
	fail "crm-capture did not look up crm.calendar.v1 when it started"
mkdir -p "$T/stage" && chmod 1777 "$T/stage"
TAP_CAPTURE_EXTRA="stage_dir = $T/stage"
tap_proxy_capture acme
# bob: plaintext listener -> plaintext upstream, both legs raw
PROXY_PLAIN=1
PROXY_ROUTE_EXTRA="user bob = plainup tenant=acme"
PROXY_EXTRA="$PROXY_EXTRA
[upstream plainup]
address = 127.0.0.1:$DOVE_IMAP
tls = none"
export PROXY_PLAIN PROXY_ROUTE_EXTRA PROXY_EXTRA
target_start

step "mbsync pulls everything through the proxy"
mbsync_pull_conf "$T/mbsyncrc" alice alicepw "$T/A"
t0=$(now_ms)
timeout 300 mbsync -q -c "$T/mbsyncrc" target >"$T/mbsync.log" 2>&1 ||
	{ tail "$T/mbsync.log" >&2; fail "mbsync"; }
note "mbsync: $(($(now_ms) - t0)) ms, $(find "$T/A/INBOX" -type f -path '*/cur/*' -o -type f -path '*/new/*' | wc -l) messages"

step "kcat reads crm.mail.v1"
n="$(tap_kafka_read crm.mail.v1 "$T/kafka.jsonl" --expect 500 --timeout 180)"
note "$n records after $(($(now_ms) - t0)) ms"
"$PY" - "$T/inventory.json" "$T/kafka.jsonl" <<'PYEOF' || fail "records differ from Dovecot's messages"
import json, sys, hashlib
inv = json.load(open(sys.argv[1]))["INBOX"]
recs = [json.loads(l) for l in open(sys.argv[2])]
def flagset(s):
    return set(s.split()) - {"\\Recent"}
flagged = 0
def idkey(tenant, mid, sha):
    if mid:
        d = b"crm-idkey/1\0" + tenant.encode() + b"\0message-id\0" + mid.encode("latin-1")
    else:
        d = b"crm-idkey/1\0" + tenant.encode() + b"\0content\0" + bytes.fromhex(sha)
    return hashlib.sha256(d).hexdigest()
bad = []
if len(recs) != 500:
    bad.append("%d records, expected exactly 500" % len(recs))
seen = set()
big = 0
for r in recs:
    h = r["headers"]
    uid = h.get("uid")
    want = inv["uids"].get(uid)
    if want is None:
        bad.append("record with uid %r not in INBOX" % uid); continue
    if uid in seen:
        bad.append("uid %s twice" % uid)
    seen.add(uid)
    sha, size, mid = want
    exp = {"schema": "crm.mail/1", "tenant": "acme", "user": "alice",
           "direction": "in", "source": "imap-fetch", "mailbox": "INBOX",
           "uidvalidity": str(inv["uidvalidity"]),
           "idempotency-key": idkey("acme", mid, sha)}
    for k, v in exp.items():
        if h.get(k) != v:
            bad.append("uid %s: header %s=%r, expected %r" % (uid, k, h.get(k), v))
    if r["key"] != "acme/alice":
        bad.append("uid %s: key %r" % (uid, r["key"]))
    if r["sha256"] != sha or r["size"] != size:
        bad.append("uid %s: value %d bytes differs from Dovecot's %d" % (uid, r["size"], size))
    # mbsync asks for FLAGS in another FETCH than BODY.PEEK[]: the tap
    # labels each record with what the session learnt (\Recent aside:
    # Dovecot shows it only to the first session that selects)
    if "flags" not in h or flagset(h["flags"]) != flagset(inv["flags"][uid]):
        bad.append("uid %s: flags %r, Dovecot has (%s)" % (uid, h.get("flags"), inv["flags"][uid]))
    flagged += "\\Flagged" in h.get("flags", "") or "$Work" in h.get("flags", "")
    if "observed-at" not in h:
        bad.append("uid %s: observed-at missing: %r" % (uid, sorted(h)))
    big += size > 2 * 1024 * 1024
for b in bad[:20]:
    print("  " + b)
if bad:
    print("  %d problems" % len(bad))
else:
    print("  %d records, %d distinct uids, %d over 2 MB, all values identical to Dovecot's; flags as Dovecot's on all (%d flagged or $Work)" % (len(recs), len(seen), big, flagged))
sys.exit(1 if bad or big < 5 or flagged < 100 else 0)
PYEOF

step "APPEND through the proxy: refused -> nothing; to Sent -> one outbound record"
"$PY" - "$TARGET_HOST" "$TARGET_IMAP" "$TARGET_CA" "$T/appended.eml" "$T/appenduid" <<'PYEOF' || fail "imaplib APPEND"
import imaplib, ssl, sys, re, time
host, port, ca, out, uidf = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=ca)
c = imaplib.IMAP4(host, int(port))
c.starttls(ssl_context=ctx)
c.login("alice", "alicepw")
msg = (b"From: Alice Seller <alice@acme.example>\r\nTo: Dana Buyer <dana@customer.example>\r\n"
       b"Subject: Proposal, as promised\r\nMessage-ID: <tap-append-%d@acme.example>\r\n"
       b"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: text/plain; charset=utf-8\r\n\r\nHi Dana,\r\nthe proposal is attached in spirit.\r\n" % time.time_ns())
typ, data = c.append("NoSuchBox", None, None, msg)
assert typ == "NO", (typ, data)
typ, data = c.append("Sent", "(\\Seen)", None, msg)
assert typ == "OK", (typ, data)
m = re.search(rb"APPENDUID (\d+) (\d+)", data[0])
assert m, data
open(out, "wb").write(msg)
open(uidf, "w").write("%s %s\n" % (m.group(1).decode(), m.group(2).decode()))
c.logout()
print("  NO for NoSuchBox; Sent: APPENDUID %s %s" % (m.group(1).decode(), m.group(2).decode()))
PYEOF
n="$(tap_kafka_read crm.mail.v1 "$T/kafka2.jsonl" --expect 501 --timeout 60)"
sleep 2   # a wrongly published refused APPEND would have had time to show
n="$(tap_kafka_read crm.mail.v1 "$T/kafka2.jsonl")"
[ "$n" = 501 ] || fail "crm.mail.v1 holds $n records after the APPENDs, expected 501"
read -r uv uid <"$T/appenduid"
want_sha="$(sha256sum "$T/appended.eml" | cut -d' ' -f1)"
want_key="$("$PY" "$TAP_CHECK" idkey acme "$T/appended.eml")"
"$PY" - "$T/kafka2.jsonl" "$uv" "$uid" "$want_sha" "$want_key" <<'PYEOF' || fail "APPEND record"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
uv, uid, sha, key = sys.argv[2:6]
app = [r for r in recs if r["headers"].get("source") == "imap-append"]
assert len(app) == 1, "%d imap-append records, expected 1" % len(app)
h = app[0]["headers"]
exp = {"direction": "out", "mailbox": "Sent", "uid": uid, "uidvalidity": uv,
       "tenant": "acme", "user": "alice", "flags": "\\Seen",
       "idempotency-key": key}
for k, v in exp.items():
    assert h.get(k) == v, "header %s=%r, expected %r" % (k, h.get(k), v)
assert app[0]["sha256"] == sha, "value differs from the appended bytes"
assert not [r for r in recs if r["headers"].get("mailbox") == "NoSuchBox"]
print("  one outbound record: Sent uid %s uidvalidity %s, value = bytes sent" % (uid, uv))
PYEOF

step "metrics"
sleep 1.5
for m in crm_proxy_tap_captured_total crm_proxy_tap_seen_total \
	crm_proxy_tap_aborted_total crm_proxy_tap_blind_sessions_total \
	crm_proxy_spool_records_acked_total crm_proxy_spool_bytes; do
	note "$m $(tap_metric $m)"
done
[ "$(tap_metric crm_proxy_tap_captured_total)" = 501 ] ||
	fail "captured_total is $(tap_metric crm_proxy_tap_captured_total), expected 501"
[ "$(tap_metric crm_proxy_tap_aborted_total)" -ge 1 ] ||
	fail "the refused APPEND was not counted as aborted"
[ "$(tap_metric crm_proxy_tap_blind_sessions_total)" = 0 ] ||
	fail "a session went blind"
step "plaintext both legs: bob's 500 through the proxy's flat path"
"$PY" "$TAP_CHECK" inventory 127.0.0.1 "$TARGET_PLAIN" bob bobpw \
	"$T/inventory-bob-proxy.json" INBOX || fail "inventory bob through the proxy"
cmp -s "$T/inventory-bob.json" "$T/inventory-bob-proxy.json" ||
	fail "bob's mailbox read through the proxy differs from Dovecot's"
n="$(tap_kafka_read crm.mail.v1 "$T/kafka3.jsonl" --expect 1001 --timeout 120)"
[ "$n" = 1001 ] || fail "crm.mail.v1 holds $n records, expected 1001"
"$PY" - "$T/inventory-bob.json" "$T/kafka3.jsonl" <<'PYEOF' || fail "bob's records"
import json, sys
inv = json.load(open(sys.argv[1]))["INBOX"]
recs = [json.loads(l) for l in open(sys.argv[2])]
bob = [r for r in recs if r["headers"].get("user") == "bob"]
bad = []
if len(bob) != 500:
    bad.append("%d records for bob, expected 500" % len(bob))
uids = set()
for r in bob:
    h = r["headers"]
    want = inv["uids"].get(h.get("uid"))
    uids.add(h.get("uid"))
    if want is None or r["sha256"] != want[0] or r["size"] != want[1]:
        bad.append("uid %s: value differs from Dovecot's" % h.get("uid"))
    if r["key"] != "acme/bob" or h.get("mailbox") != "INBOX" or \
            h.get("uidvalidity") != str(inv["uidvalidity"]):
        bad.append("uid %s: key %r headers %r" % (h.get("uid"), r["key"], h))
if len(uids) != len(bob):
    bad.append("a uid twice")
for b in bad[:10]:
    print("  " + b)
if not bad:
    print("  500 records for bob, one per uid, all values identical to Dovecot's")
sys.exit(1 if bad else 0)
PYEOF
sleep 1.5
[ "$(tap_metric crm_proxy_tap_captured_total)" = 1001 ] ||
	fail "captured_total is $(tap_metric crm_proxy_tap_captured_total), expected 1001"
[ "$(tap_metric crm_proxy_tap_blind_sessions_total)" = 0 ] ||
	fail "a session went blind"

proxy_alive
proxy_check_log
pass "500 fetched + 1 appended message on Kafka, byte-identical, headers right; the same 500 again over plaintext"
