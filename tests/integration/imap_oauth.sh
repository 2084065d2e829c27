#!/usr/bin/env bash
# imap_oauth.sh - XOAUTH2 and OAUTHBEARER through the target to an
# upstream that accepts them (issue 2, "Must show" 3).
#
# Upstream: Dovecot's oauth2 passdb, introspection_mode = post, against
# tests/lib/introspect.py (RFC 7662).  Client side: oauth.py (raw socket):
# SASL-IR and continuation forms, implicit TLS and STARTTLS; forged,
# unknown and other-user tokens; a client that cancels with "*".
# The introspection log must show that the tokens the client sent are the
# ones the upstream checked (the target passes them through unchanged).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_oauth 4
dovecot_start oauth
target_start

step "OAuth SASL mechanisms via the target"
"$PY" "$HERE/oauth.py" "$TARGET_HOST" "$TARGET_IMAP" "$TARGET_IMAPS" \
	"$TARGET_CA" || fail "oauth.py"

step "what the upstream checked"
good="$(grep -c 'tok-alice-0123456789 -> alice' "$OAUTH_LOG")"
forged="$(grep -c 'tok-forged -> inactive' "$OAUTH_LOG")"
expired="$(grep -c 'tok-expired -> inactive' "$OAUTH_LOG")"
note "introspection: alice's token $good times, forged $forged, expired $expired"
[ "$good" -ge 8 ] || fail "expected 8 introspections of alice's token, saw $good"
[ "$forged" -ge 2 ] && [ "$expired" -ge 1 ] ||
	fail "bad tokens did not reach the upstream unchanged"
n="$(grep -c 'Login: user=<alice>, method=\(XOAUTH2\|OAUTHBEARER\)' "$DOVE_LOG")"
[ "$n" = 8 ] || fail "dovecot logged $n OAuth logins for alice, expected 8"
note "dovecot: $n OAuth logins (XOAUTH2 + OAUTHBEARER)"

proxy_alive
proxy_check_log
pass "XOAUTH2 + OAUTHBEARER, SASL-IR + continuation, bad tokens refused cleanly ($TARGET_MODE)"
