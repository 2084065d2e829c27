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
# while the proxy's worker RSS must stay within 4 x buffer_high + 2 MB
# [proxy] and another client must still be served.  Every case must end in
# a tagged BAD/NO, a BYE or a clean close, never a hang; afterwards a
# normal login works and the proxy is still running.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_badinput 5
dovecot_start
PROXY_BUFFER_HIGH=256k
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

proxy_alive
proxy_check_log
pass "every bad input refused cleanly; target still serving ($TARGET_MODE)"
