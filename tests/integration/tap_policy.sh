#!/usr/bin/env bash
# tap_policy.sh - the edge policy decides before anything is written.
#
# Two tenants: "acme" (alice) with address and domain blocklists (exact
# and wildcard), free-mail and internal-only skipping and folder opt-in
# (INBOX, Sent); "hdr" (bob, the default route) in header-only mode.
# The upstream leg is plaintext and bob uses a plaintext listener, so the
# relay's raw I/O path is tapped too.
# Dovecot holds one message per rule, each body carrying a marker.  Real
# imaplib clients fetch everything through the proxy while crm-capture is
# NOT running; the spool files are then read with an independent parser
# (tap_check.py, from docs/spool.md) and grepped raw: only the two allowed
# records are there, no blocked message's body or address, no body of the
# header-only one.  Then crm-capture ships them and kcat must read the same
# two records from Kafka.  The proxy's log must give one audit line per
# drop with the reason and rule, and no body bytes or addresses.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"
. "$TLIB/tap.sh"

scenario_init tap_policy 8
need_cmd kcat
[ -x "$B/crm-proxy" ] && [ "${CRM_TEST_DIRECT:-}" != 1 ] ||
	skip "the tap lives in crm-proxy: no direct mode"
dovecot_start

step "one message per rule in Dovecot"
msg() { # N FROM TO [CC]
	printf 'From: %s\r\nTo: %s\r\n%sSubject: policy case %s\r\nMessage-ID: <policy-%s@test.example>\r\nDate: Wed, 25 Nov 2026 10:00:00 +0000\r\n\r\nSECRET-BODY-%s must never leave unless allowed.\r\n' \
		"$2" "$3" "${4:+Cc: $4\r\n}" "$1" "$1" "$1"
}
msg 1 "Dana <dana@customer.example>" "alice@acme.example" | dovecot_deliver alice
msg 2 "x@eu.lawfirm.example" "alice@acme.example" | dovecot_deliver alice
msg 3 "The CEO <ceo@partner.example>" "alice@acme.example" | dovecot_deliver alice
msg 4 "dana@customer.example" "alice@acme.example" "legal-team@other.example" | dovecot_deliver alice
msg 5 "bob@sales.acme.example" "alice@acme.example" | dovecot_deliver alice
msg 6 "Mom <mom@gmail.com>" "alice@acme.example" | dovecot_deliver alice
dovecot_doveadm mailbox create -u alice Personal
msg 7 "dana@customer.example" "alice@acme.example" | dovecot_deliver alice Personal
# bob's message is 2 MB, so its header-only body is spliced past the tap
{
	msg 8 "erin@vendor.example" "bob@acme.example" | sed 's/SECRET-BODY-8/HDRONLY-BODY-8/'
	for i in $(seq 30000); do
		printf 'HDRONLY-BODY-8 line %05d of the part the tap never keeps.\r\n' "$i"
	done
} >"$T/msg8.eml"
dovecot_deliver bob <"$T/msg8.eml"
note "6 in alice's INBOX, 1 in Personal, 1 for bob"

tap_kafka_start
PROXY_ROUTE_EXTRA="user alice = dovecot tenant=acme"
TAP_TENANTS="
[tenant acme]
domains = acme.example
block_addresses = ceo@partner.example legal-*@*
block_domains = lawfirm.example
skip_freemail = yes
skip_internal = yes
folders = INBOX Sent

[tenant hdr]
header_only = yes"
# The relay's plaintext I/O path too: Dovecot's plaintext port upstream,
# and bob through a plaintext listener (alice keeps STARTTLS).
PROXY_UPSTREAM_TLS=none
PROXY_PLAIN=1
export PROXY_ROUTE_EXTRA PROXY_UPSTREAM_TLS PROXY_PLAIN
tap_proxy_capture hdr
target_start

step "fetch everything through the proxy (crm-capture not running)"
"$PY" - "$TARGET_HOST" "$TARGET_IMAP" "$TARGET_CA" "$TARGET_PLAIN" "$T/msg8.eml" <<'PYEOF' || fail "imaplib fetch"
import imaplib, ssl, sys
host, port, ca, plain, msg8 = sys.argv[1:6]
for user, boxes in (("alice", ("INBOX", "Personal")), ("bob", ("INBOX",))):
    if user == "alice":
        c = imaplib.IMAP4(host, int(port))
        c.starttls(ssl_context=ssl.create_default_context(cafile=ca))
    else:
        c = imaplib.IMAP4(host, int(plain))
    c.login(user, user + "pw")
    for box in boxes:
        c.select(box, readonly=True)
        typ, data = c.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
        n = sum(1 for d in data if isinstance(d, tuple))
        assert typ == "OK", (typ, data)
        if user == "bob":
            got = [d[1] for d in data if isinstance(d, tuple)]
            assert got == [open(msg8, "rb").read()], "bob's message differs"
        print("  %s %s: %d messages fetched" % (user, box, n))
    c.logout()
PYEOF
sleep 0.5
n="$("$PY" "$TAP_CHECK" spool "$T/spool" "$T/spool.jsonl")"
[ "$n" = 2 ] || fail "spool holds $n records, expected 2"
for marker in SECRET-BODY-2 SECRET-BODY-3 SECRET-BODY-4 SECRET-BODY-5 \
	SECRET-BODY-6 SECRET-BODY-7 HDRONLY-BODY-8 lawfirm.example \
	ceo@partner.example legal-team@other.example mom@gmail.com; do
	if grep -rqa -- "$marker" "$T/spool"; then
		fail "spool files contain \"$marker\""
	fi
done
grep -rqa SECRET-BODY-1 "$T/spool" || fail "the allowed message is not in the spool"
note "spool: 2 records; no blocked body, address or header-only body in any segment byte"
# bob's session (plaintext both legs): once the policy said headers-only,
# the rest of the 2 MB literal went by splice(2), unseen by the tap
proxy_spliced | awk -v size="$(wc -c <"$T/msg8.eml")" '
	$1 == "bob" { b += $3; next }
	{ other += $3 }
	END {
		printf "  spliced: %d of the %d bytes of bob'"'"'s message, %d in other sessions\n", b, size, other
		exit !(b >= 0.8 * size && b < size && other == 0)
	}' || fail "bob's header-only body was not spliced (or another session's was)"

step "crm-capture ships; kcat reads the topic"
tap_capture_start
n="$(tap_kafka_read crm.mail.v1 "$T/kafka.jsonl" --expect 2 --timeout 60 --values)"
sleep 2
n="$(tap_kafka_read crm.mail.v1 "$T/kafka.jsonl" --values)"
[ "$n" = 2 ] || fail "Kafka holds $n records, expected 2"
"$PY" - "$T/kafka.jsonl" <<'PYEOF' || fail "Kafka records"
import base64, json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
by = {r["headers"]["tenant"]: r for r in recs}
assert set(by) == {"acme", "hdr"}, by.keys()
a = base64.b64decode(by["acme"]["value"])
assert b"SECRET-BODY-1" in a and by["acme"]["headers"]["mailbox"] == "INBOX"
assert "content" not in by["acme"]["headers"]
h = base64.b64decode(by["hdr"]["value"])
assert by["hdr"]["headers"].get("content") == "headers-only", by["hdr"]["headers"]
assert h.endswith(b"\r\n\r\n") and b"HDRONLY-BODY" not in h, h
assert b"Message-ID: <policy-8@test.example>" in h
for r in recs:
    v = base64.b64decode(r["value"])
    for m in (b"SECRET-BODY-%d" % i for i in range(2, 8)):
        assert m not in v, m
print("  acme: message 1 whole; hdr: message 8 headers only (%d bytes), no body" % len(h))
PYEOF

step "audit log"
grep 'capture drop:' "$PROXY_LOG" | sed 's/^.*capture drop:/  capture drop:/'
expect_drop() { # REASON RULE MAILBOX
	grep -q "capture drop: reason=$1 rule=$2 tenant=acme user=alice mailbox=$3 uid=[1-9]" "$PROXY_LOG" ||
		fail "no audit line for reason=$1 rule=$2"
}
expect_drop blocked-domain lawfirm.example INBOX
expect_drop blocked-address 'ceo@partner.example' INBOX
expect_drop blocked-address 'legal-\*@\*' INBOX
expect_drop internal-only - INBOX
expect_drop freemail - INBOX
expect_drop folder-not-opted-in - Personal
[ "$(grep -c 'capture drop:' "$PROXY_LOG")" = 6 ] || fail "expected exactly 6 audit lines"
if grep -qE 'SECRET-BODY|HDRONLY|alicepw|bobpw|mom@gmail|x@eu.lawfirm' "$PROXY_LOG"; then
	fail "the proxy log carries a body, an address from a message or a password"
fi
sleep 1.2
[ "$(tap_metric crm_proxy_tap_blocked_total)" = 6 ] ||
	fail "blocked_total is $(tap_metric crm_proxy_tap_blocked_total)"
[ "$(tap_metric crm_proxy_tap_headers_only_total)" = 1 ] ||
	fail "headers_only_total is $(tap_metric crm_proxy_tap_headers_only_total)"
proxy_alive
proxy_check_log
pass "6 drops audited, nothing of them in spool or Kafka; header-only without body"
