#!/usr/bin/env bash
# imap_plain.sh - the relay's plaintext path.  Every other scenario runs
# TLS on both legs; here the upstream leg is plaintext (Dovecot's IMAP
# port, tls = none) and a plaintext listener is added, so both relay I/O
# paths are covered: plaintext on both sides, and TLS client with a
# plaintext server.  Through each: a whole-mailbox FETCH byte-identical to
# Dovecot's own answer (messages of a few bytes to 12 MB), pipelined
# commands, 3 MB APPENDs, COMPRESS refused, IDLE, LOGOUT's BYE delivered,
# and the big literals spliced on the plaintext-only path, or copied when
# the session can get no pipe (relay_nopipe.py); then the
# hostile-input cases of imap_badinput (badinput.py), whose stalled-client
# case runs on both listeners and must stay within the memory bound; then
# the plaintext path again after a reload to splice = no (copied, same
# bytes, no session spliced).  Last,
# four concurrent sessions, eight times, must land two on each worker
# (worker_spread.py; one round of three and one is allowed).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_plain 12
[ -x "$B/crm-proxy" ] || fail "$B/crm-proxy missing (make)"
dovecot_start
PROXY_UPSTREAM_TLS=none PROXY_PLAIN=1 PROXY_BUFFER_HIGH=256k target_start

step "mail: 60 messages for alice (2 of 6-12 MB), 20 MB for bob"
"$PY" "$TLIB/mailgen.py" maildir "$T/gen" --count 60 --big 2 --big-min 6 \
	--big-max 12 --seed 7 >/dev/null || fail "mailgen"
for f in "$T"/gen/cur/* "$T"/gen/new/*; do
	[ -f "$f" ] || continue
	dovecot_deliver alice <"$f" || fail "deliver $f"
done
"$PY" "$TLIB/mailgen.py" one "$T/big.eml" --size 20 >/dev/null || fail "mailgen"
dovecot_deliver bob <"$T/big.eml" || fail "deliver big"

step "relay checks: plaintext both legs, and TLS client to plaintext server"
DIRECT_PORT="$DOVE_IMAP" "$PY" "$HERE/relay_plain.py" || fail "relay_plain.py"

if [ "$TARGET_MODE" = proxy ]; then
	step "literal data spliced on plaintext legs only"
	# login lines say tls=yes|no per session; close lines carry spliced=N
	# when splice(2) moved literal data.  Plaintext both legs: the two
	# whole-mailbox FETCHes (over 30 MB of 6-12 MB literals) and the
	# APPENDs must have gone that way; a TLS client's session never.
	proxy_spliced | awk '
		$2 == "yes" { bad++; next }
		$3 + 0 > max { max = $3 + 0 }
		END {
			printf "  most spliced in one plaintext session: %d bytes; TLS sessions spliced: %d\n", max, bad
			exit !(max > 30000000 && bad == 0)
		}' || fail "splice did not serve the plaintext session, or served a TLS one"

	step "no pipe at the descriptor limit: the session copies instead"
	PROXY_PID="$PROXY_PID" PROXY_LOG="$PROXY_LOG" DIRECT_PORT="$DOVE_IMAP" \
		"$PY" "$HERE/relay_nopipe.py" || fail "relay_nopipe.py"
fi

step "hostile input with a plaintext upstream"
BUFFER_HIGH=$((256 * 1024)) BIG_FILE="$T/big.eml" \
	"$PY" "$HERE/badinput.py" || fail "badinput.py"

if [ "$TARGET_MODE" = proxy ]; then
	step "splice = no after SIGHUP: the plaintext path copies, same bytes"
	printf '\n[proxy]\nsplice = no\n' >>"$PROXY_CONF"
	n="$(grep -c ' reloaded: ' "$PROXY_LOG")"
	kill -HUP "$PROXY_PID"
	for _ in $(seq 100); do
		[ "$(grep -c ' reloaded: ' "$PROXY_LOG")" -gt "$n" ] && break
		sleep 0.1
	done
	[ "$(grep -c ' reloaded: ' "$PROXY_LOG")" -gt "$n" ] ||
		fail "no 'reloaded:' line after SIGHUP"
	sleep 1		# the idle old workers have stopped accepting by now
	mark="$(wc -l <"$PROXY_LOG")"
	RELAY_ONLY=plain DIRECT_PORT="$DOVE_IMAP" "$PY" "$HERE/relay_plain.py" ||
		fail "relay_plain.py with splice = no"
	tail -n "+$((mark + 1))" "$PROXY_LOG" | grep -q ' closed: .*user=alice' ||
		fail "no session closed after the reload"
	if tail -n "+$((mark + 1))" "$PROXY_LOG" | grep ' spliced='; then
		fail "a session spliced with splice = no"
	fi

	step "four sessions spread two and two over the two workers"
	"$PY" "$HERE/worker_spread.py" 8 || fail "worker_spread.py"
fi

proxy_alive
proxy_check_log
pass "plaintext relay paths byte-identical and bounded"
