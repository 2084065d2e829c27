#!/usr/bin/env bash
# certs_tool.sh - crm-certs, the certificate tool for IT (certs/,
# man/crm-certs.8): a private CA and a server certificate that crm-proxy
# serves and curl verifies; a request for an outside CA, signed there and
# checked; and every failure `check` must catch, each with exit 1 and its
# line: a key from another certificate, a chain from another CA, a name
# the certificate does not carry, an expired certificate.  Warnings (few
# days left, a key readable by others) keep exit 0.  crm-proxy itself
# warns of a certificate near its end in --check and in its log after a
# reload, and --check fails on an expired one.  Every other scenario
# makes its certificates with the same tool (tests/lib/certs.sh).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init certs_tool 45
need_cmd openssl curl
C="$ROOT/certs/crm-certs"
P="$T/pki"

expect() { # STATUS PATTERN CMD... : CMD exits STATUS and prints PATTERN
	local want="$1" pat="$2" out rc
	shift 2
	out="$("$@" 2>&1)"
	rc=$?
	[ "$rc" = "$want" ] || fail "$* exited $rc, want $want: $out"
	grep -qE -- "$pat" <<<"$out" || fail "$* did not say /$pat/: $out"
	note "exit $rc: $(grep -m1 -E -- "$pat" <<<"$out")"
}

step "a private CA and a certificate for the proxy"
expect 0 'usage: crm-certs' "$C" --help
expect 0 'CA "pilot CA", 3650 days' "$C" ca "$P" --cn "pilot CA"
expect 2 'ca.key exists' "$C" ca "$P"
expect 0 'localhost \(DNS:localhost,IP:127.0.0.1\), 397 days' \
	"$C" issue "$P" localhost --san DNS:localhost,IP:127.0.0.1 --out proxy
[ "$(stat -c %a "$P/proxy.key")" = 600 ] || fail "proxy.key is not mode 600"
[ "$(stat -c %a "$P/ca.key")" = 600 ] || fail "ca.key is not mode 600"
expect 0 '^ok +valid until .* \((396|397) days\)' \
	"$C" check "$P/proxy.pem" "$P/proxy.key" --ca "$P/ca.pem" --name localhost
expect 0 '^ok +it names 127.0.0.1' \
	"$C" check "$P/proxy.pem" "$P/proxy.key" --ca "$P/ca.pem" --name 127.0.0.1
expect 2 'not DNS:name or IP:address' "$C" issue "$P" x --san 'URI:nope'
expect 2 'not a host name' "$C" issue "$P" 'bad name!'

step "crm-proxy serves it; curl verifies it against the pilot CA"
dovecot_start
cp "$P/proxy.pem" "$T/certs/proxy.pem"
cp "$P/proxy.key" "$T/certs/proxy.key"
target_start
[ "$TARGET_MODE" = proxy ] || fail "certs_tool needs crm-proxy (not CRM_TEST_DIRECT)"
"$B/crm-proxy" --check -c "$PROXY_CONF" >/dev/null ||
	fail "--check refused the crm-certs certificate"
curl -sS --max-time 10 --cacert "$P/ca.pem" \
	"imaps://localhost:$TARGET_IMAPS/" -u alice:alicepw >"$T/list.out" ||
	fail "curl did not verify the proxy against the pilot CA"
grep -q INBOX "$T/list.out" || fail "no INBOX in the LIST through the proxy"
note "curl --cacert pki/ca.pem imaps://localhost: LIST has INBOX"
if curl -sS --max-time 10 --cacert "$T/certs/ca.pem" \
	"imaps://localhost:$TARGET_IMAPS/" -u alice:alicepw >/dev/null 2>&1; then
	fail "curl accepted the proxy against a CA that did not sign it"
fi

step "a request for an outside CA, signed there, checked here"
expect 0 'request for imap.example.com \(DNS:imap.example.com,DNS:smtp.example.com\)' \
	"$C" csr "$T/req" imap.example.com --san DNS:imap.example.com,DNS:smtp.example.com
"$C" ca "$T/outside" --cn "outside CA" >/dev/null || fail "outside CA"
openssl x509 -req -in "$T/req/imap.example.com.csr" -CA "$T/outside/ca.pem" \
	-CAkey "$T/outside/ca.key" -CAcreateserial -days 90 -copy_extensions copy \
	-out "$T/req/imap.example.com.pem" 2>/dev/null || fail "the outside CA did not sign"
# As a CA delivers it: the leaf, then its chain.
cat "$T/req/imap.example.com.pem" "$T/outside/ca.pem" >"$T/req/fullchain.pem"
expect 0 '^ok +it names smtp.example.com' "$C" check "$T/req/fullchain.pem" \
	"$T/req/imap.example.com.key" --ca "$T/outside/ca.pem" --name smtp.example.com
expect 0 '2 certificate' "$C" check "$T/req/fullchain.pem" \
	"$T/req/imap.example.com.key" --ca "$T/outside/ca.pem"

step "what check must catch"
expect 1 '^FAIL .*does not belong' \
	"$C" check "$P/proxy.pem" "$T/req/imap.example.com.key" --ca "$P/ca.pem"
expect 1 '^FAIL +the chain does not verify' \
	"$C" check "$P/proxy.pem" "$P/proxy.key" --ca "$T/outside/ca.pem"
expect 1 '^FAIL +it does not name mail.example.org' \
	"$C" check "$P/proxy.pem" "$P/proxy.key" --ca "$P/ca.pem" --name mail.example.org
openssl req -new -key "$P/proxy.key" -subj /CN=localhost -out "$T/old.csr" 2>/dev/null &&
	openssl x509 -req -in "$T/old.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
		-days 0 -out "$T/old.pem" 2>/dev/null || fail "could not make an expiring certificate"
sleep 1.1
expect 1 '^FAIL +expired on' "$C" check "$T/old.pem" "$P/proxy.key" --ca "$P/ca.pem"
expect 1 'no certificate in it' "$C" check "$P/proxy.key" "$P/proxy.key"

step "what check warns of, with exit 0"
"$C" issue "$P" localhost --out soon --days 10 >/dev/null || fail "issue --days 10"
expect 0 '^WARN +expires in (9|10) days' "$C" check "$P/soon.pem" "$P/soon.key" --ca "$P/ca.pem"
expect 0 '^ok +valid until' "$C" check "$P/soon.pem" "$P/soon.key" --ca "$P/ca.pem" --warn-days 5
chmod 644 "$P/soon.key"
expect 0 '^WARN .*readable by others \(mode 644\)' \
	"$C" check "$P/soon.pem" "$P/soon.key" --ca "$P/ca.pem" --warn-days 5

step "crm-proxy reports the same: --check, and the log after a reload"
sed "s|$T/certs/proxy.pem|$P/soon.pem|; s|$T/certs/proxy.key|$P/soon.key|" \
	"$PROXY_CONF" >"$T/soon.conf"
chmod 600 "$P/soon.key"
expect 0 "warning: $T/soon.conf:[0-9]+: \[listen [a-z0-9]+\] certificate $P/soon.pem expires in (9|10) days" \
	"$B/crm-proxy" --check -c "$T/soon.conf"
sed "s|$T/certs/proxy.pem|$T/old.pem|; s|$T/certs/proxy.key|$P/proxy.key|" \
	"$PROXY_CONF" >"$T/old.conf"
expect 1 "error: $T/old.conf:[0-9]+: \[listen [a-z0-9]+\] certificate $T/old.pem expired on" \
	"$B/crm-proxy" --check -c "$T/old.conf"
cp "$T/soon.conf" "$PROXY_CONF"
kill -HUP "$PROXY_PID"
for _ in $(seq 50); do
	grep -q "certificate $P/soon.pem expires in" "$PROXY_LOG" && break
	sleep 0.1
done
grep -q "certificate $P/soon.pem expires in" "$PROXY_LOG" ||
	fail "no expiry warning in the log after SIGHUP"
note "log: $(grep -m1 "certificate $P/soon.pem expires in" "$PROXY_LOG" | cut -c1-160)"
curl -sS --max-time 10 --cacert "$P/ca.pem" \
	"imaps://localhost:$TARGET_IMAPS/" -u alice:alicepw >/dev/null ||
	fail "no LIST through the proxy with the renewed certificate"
proxy_alive

pass "crm-certs: CA, issue, csr signed outside; check catches key, chain, name, expiry; crm-proxy serves its certificate and reports its expiry"
