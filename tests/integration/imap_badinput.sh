#!/usr/bin/env bash
# imap_badinput.sh - hostile and malformed input (issue 2, "Must show" 4).
#
# badinput.py sends, each on its own connection: literal bombs before
# login ({4294967295}, {4294967295+} followed by data, an overflowing
# {99999999999999999999}, ~{4294967295}); a 1 MB line without CRLF;
# malformed commands (empty line, empty tag, unknown command, missing
# arguments, broken quoting, SELECT before login, unknown SASL mechanism);
# seven commands pipelined across LOGIN; "a STARTTLS\r\nb LOGIN ..." in one
# packet (the plaintext LOGIN must never run); LOGIN before STARTTLS
# [proxy]; a client that stops reading in the middle of a 20 MB FETCH,
# while the proxy's worker anonymous RSS must stay within 4 x buffer_high + 2 MB
# [proxy] and another client must still be served.  Every case must end in
# a tagged BAD/NO, a BYE or a clean close, never a hang; afterwards a
# normal login works and the proxy is still running.  [proxy] Users routed
# to an upstream that is down, by address and by name, get a tagged
# NO [UNAVAILABLE] at once.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_badinput 5
dovecot_start
PROXY_BUFFER_HIGH=256k
# Nothing listens on DEAD: one upstream names it by address, one by name.
alloc_port DEAD
PROXY_ROUTE_EXTRA="user ghost@dead.test = dead
user ghost@deadname.test = deadname"
PROXY_EXTRA="
[upstream dead]
address = 127.0.0.1:$DEAD
tls = none

[upstream deadname]
address = localhost:$DEAD
tls = none"
export PROXY_ROUTE_EXTRA PROXY_EXTRA
target_start

step "a 20 MB message for bob, a small one for alice"
"$PY" "$TLIB/mailgen.py" one "$T/big.eml" --size 20 >/dev/null || fail "mailgen"
dovecot_deliver bob <"$T/big.eml" || fail "deliver big"
printf 'From: a@example.test\nSubject: small\n\nsmall\n' | dovecot_deliver alice ||
	fail "deliver small"
note "$(wc -c <"$T/big.eml") bytes in bob's INBOX"

step "bad input via the target ($TARGET_MODE)"
BUFFER_HIGH=$((256 * 1024)) BIG_FILE="$T/big.eml" \
	"$PY" "$HERE/badinput.py" || fail "badinput.py"

if [ "$TARGET_MODE" = proxy ]; then
	step "upstream down: NO [UNAVAILABLE], by address and by name"
	"$PY" - "$TARGET_HOST" "$TARGET_IMAPS" "$TARGET_CA" <<'PYEOF' ||
import os, sys, time
sys.path.insert(0, os.environ["TLIB"])
from imapwire import Conn
host, port, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for user in (b"ghost@dead.test", b"ghost@deadname.test"):
    c = Conn.open(host, port, tls="implicit", ca=ca, timeout=15)
    t0 = time.monotonic()
    r = c.cmd(b"u1", b"LOGIN " + user + b" secret")
    secs = time.monotonic() - t0
    assert r[-1].startswith(b"u1 NO [UNAVAILABLE]"), r
    assert secs < 5, secs
    c.close()
    print("  %s: %s (%.0f ms)" % (user.decode(), r[-1].decode(), secs * 1000))
PYEOF
		fail "a login to a dead upstream"
fi

proxy_alive
proxy_check_log
pass "every bad input refused cleanly; target still serving ($TARGET_MODE)"
