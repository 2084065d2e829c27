#!/usr/bin/env bash
# smtp_submission.sh - SMTP submission through crm-proxy, tapped to Kafka.
#
# Real parts: the provider is aiosmtpd with STARTTLS + AUTH (tests/lib/
# smtp.sh), the broker is Apache Kafka (tests/lib/kafka.sh), crm-capture
# ships the spool, kcat reads the topic; clients are swaks, curl, Python's
# smtplib and raw sockets (exact bytes for smuggling and pipelining).
#
# The proxy listens 587-style (STARTTLS, no AUTH before it) and 465-style
# (implicit TLS).  alice routes to the provider's implicit-TLS port, bob
# (a user route) to its STARTTLS port, so both upstream modes are used,
# each with the certificate verified against the test CA.
#
# Proves: every message the provider accepted is exactly one event on
# crm.mail.v1, byte-identical to what the provider stored, with key,
# source=smtp, direction=out, user and envelope headers right; refused
# messages (recipient, policy, size) and smuggling attempts (bare LF / CR
# around the dot, BDAT chunks holding commands) produce no event and no
# stored message; PIPELINING, SIZE, 8BITMIME, SMTPUTF8,
# ENHANCEDSTATUSCODES, DSN pass, CHUNKING does not; AUTH before STARTTLS
# is refused; XOAUTH2 works and its failure challenge passes through.
. "$(dirname "$0")/../lib/common.sh"
. "$TLIB/certs.sh"
. "$TLIB/smtp.sh"
. "$TLIB/kafka.sh"

scenario_init smtp_submission 7
need_cmd swaks curl kcat java
[ -x "$B/crm-proxy" ] && [ -x "$B/crm-capture" ] ||
	fail "build first: make"
kafka_require

step "servers"
certs_make "$T/certs" || fail "certificates"
CA="$T/certs/ca.pem"
SMTP_DATA_LIMIT=1048576 smtp_start
alloc_port KPORT
alloc_port KCTL
[ "$KCTL" = $((KPORT + 1)) ] || fail "no two adjacent ports for Kafka"
kafka_start "$T/kafka" "$KPORT"
kafka_create_topic crm.mail.v1

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

alloc_port PROXY_587
alloc_port PROXY_465
alloc_port PROXY_LB
user=""
[ "$(id -u)" = 0 ] && user="user = nobody"
mkdir -p "$T/spool"
[ "$(id -u)" = 0 ] && chown nobody "$T/spool"
cat >"$T/crm-proxy.conf" <<CONF
[proxy]
workers = 2
$user
log_level = ${PROXY_LOG_LEVEL:-info}

[limits]
auth_failures_max = 3
connect_timeout = 5s

[listen submission]
protocol = smtp
address = 127.0.0.1:$PROXY_587
tls = starttls
cert = $T/certs/proxy.pem
key = $T/certs/proxy.key

[listen submissions]
protocol = smtp
address = 127.0.0.1:$PROXY_465
tls = implicit
smtp_capabilities = PIPELINING, SIZE 1048576, 8BITMIME, SMTPUTF8, DSN
cert = $T/certs/proxy.pem
key = $T/certs/proxy.key

# Behind a load balancer: PROXY header first (plaintext, loopback only).
[listen submission-lb]
protocol = smtp
address = 127.0.0.1:$PROXY_LB
tls = none
allow_plaintext_auth = yes
proxy_protocol = yes
trusted_proxies = 127.0.0.1

[upstream provider]
smtp_address = 127.0.0.1:$SMTPD_SMTPS
smtp_tls = implicit
ca_file = $CA
smtp_server_name = localhost

[upstream provider-starttls]
smtp_address = 127.0.0.1:$SMTPD_PORT
smtp_tls = starttls
ca_file = $CA
smtp_server_name = localhost

[capture]
spool_dir = $T/spool
tenant = acme

[route]
user bob = provider-starttls
default = provider
CONF
"$B/crm-proxy" --check -c "$T/crm-proxy.conf" || fail "config rejected"
"$B/crm-proxy" -c "$T/crm-proxy.conf" -F >>"$T/crm-proxy.log" 2>&1 &
PROXY_PID=$!
track_pid "$PROXY_PID" crm-proxy
wait_port "$PROXY_587" 10 "$PROXY_PID" && wait_port "$PROXY_465" 5 ||
	{ tail -20 "$T/crm-proxy.log"; fail "proxy not listening"; }
export CA PROXY_587 PROXY_465 PROXY_LB KAFKA_BOOTSTRAP SMTPD_MAILDIR SMTPD_LOG

step "swaks and curl"
printf 'From: alice@example.test\r\nTo: cust@example.test\r\nSubject: via-curl\r\n\r\nhi from curl\r\n.leading dot\r\n' >"$T/m.eml"
swaks --silent 2 --server "127.0.0.1:$PROXY_587" --tls --tls-verify \
    --tls-ca-path "$CA" \
    --auth PLAIN --auth-user alice --auth-password alicepw \
    --from alice@example.test --to cust@example.test \
    --header "Subject: via-swaks-starttls" --body $'one\r\n.two\r\n' ||
	fail "swaks STARTTLS + AUTH PLAIN"
note "swaks STARTTLS + AUTH PLAIN: sent"
swaks --silent 2 --server "127.0.0.1:$PROXY_465" --tlsc \
    --auth LOGIN --auth-user bob --auth-password bobpw \
    --from bob@example.test --to c1@example.test,c2@example.test \
    --header "Subject: via-swaks-implicit-login" ||
	fail "swaks implicit TLS + AUTH LOGIN (bob, STARTTLS upstream)"
note "swaks implicit TLS + AUTH LOGIN as bob: sent"
if swaks --silent 2 --server "127.0.0.1:$PROXY_587" --auth PLAIN \
    --auth-user alice --auth-password alicepw --to x@example.test \
    >/dev/null 2>&1; then
	fail "AUTH before STARTTLS accepted"
fi
note "swaks AUTH without STARTTLS: refused"
curl -sS --max-time 20 --ssl-reqd --cacert "$CA" \
    "smtp://localhost:$PROXY_587" -u alice:alicepw \
    --mail-from alice@example.test --mail-rcpt cust@example.test \
    -T "$T/m.eml" || fail "curl smtp STARTTLS"
curl -sS --max-time 20 --cacert "$CA" "smtps://localhost:$PROXY_465" \
    --login-options AUTH=LOGIN -u bob:bobpw --mail-from bob@example.test \
    --mail-rcpt c3@example.test -T "$T/m.eml" || fail "curl smtps"
if curl -sS --max-time 20 --cacert "$T/certs/rogue-ca.pem" \
    "smtps://localhost:$PROXY_465" -u alice:alicepw \
    --mail-from alice@example.test --mail-rcpt x@example.test \
    -T "$T/m.eml" 2>/dev/null; then
	fail "curl trusted the proxy with a CA that signed nothing"
fi
note "curl STARTTLS, smtps + LOGIN: sent; rogue CA refused"

step "smtplib and raw sessions (pipelining, BDAT, smuggling)"
"$PY" "$ROOT/tests/integration/smtp_submission.py" clients ||
	fail "client checks"

step "Kafka against the provider's Maildir"
note "$(smtp_count) messages stored by the provider"
"$PY" "$ROOT/tests/integration/smtp_submission.py" verify ||
	fail "tap verification"
kill -0 "$PROXY_PID" || fail "proxy died"
if grep -nE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation|core dumped|assertion' \
    "$T/crm-proxy.log"; then
	fail "crash or sanitizer report in the proxy log"
fi
grep -q 'login user=alice .*client=10.1.2.3 .*protocol=smtp' \
    "$T/crm-proxy.log" ||
	fail "the PROXY header's client address is not the session's"
note "PROXY v1 header: the login is logged for client 10.1.2.3"
if grep -n 'capture lost' "$T/crm-proxy.log"; then
	fail "the tap lost a message"
fi
step "fail-open: a full spool costs capture, never mail"
alloc_port PROXY_FULL
mkdir -p "$T/spool-full"
[ "$(id -u)" = 0 ] && chown nobody "$T/spool-full"
sed -e "s|^address = 127.0.0.1:$PROXY_465\$|address = 127.0.0.1:$PROXY_FULL|" \
    -e "s|^spool_dir = .*|spool_dir = $T/spool-full\\nspool_max = 1|" \
    -e "/^\\[listen submission\\]/,/^key/d" \
    -e "/^\\[listen submission-lb\\]/,/^trusted_proxies/d" \
    "$T/crm-proxy.conf" >"$T/crm-proxy-full.conf"
"$B/crm-proxy" --check -c "$T/crm-proxy-full.conf" >/dev/null ||
	{ cat "$T/crm-proxy-full.conf"; fail "fail-open config rejected"; }
"$B/crm-proxy" -c "$T/crm-proxy-full.conf" -F >>"$T/crm-proxy-full.log" 2>&1 &
FULL_PID=$!
track_pid "$FULL_PID" crm-proxy-full
wait_port "$PROXY_FULL" 10 "$FULL_PID" || fail "second proxy not listening"
before="$(smtp_count)"
for i in 1 2 3; do
	curl -sS --max-time 20 --cacert "$CA" "smtps://localhost:$PROXY_FULL" \
	    -u alice:alicepw --mail-from alice@example.test \
	    --mail-rcpt "full$i@example.test" -T "$T/m.eml" ||
		fail "message $i through a proxy with a full spool"
done
[ "$(smtp_count)" = $((before + 3)) ] ||
	fail "the provider did not get all 3 messages"
grep -q 'capture lost (spool full)' "$T/crm-proxy-full.log" ||
	{ tail "$T/crm-proxy-full.log"; fail "the loss is not logged"; }
note "3 messages delivered with the spool full; the loss logged"

step "edge policy and route tenants, as for IMAP"
alloc_port PROXY_POL
mkdir -p "$T/spool-pol"
[ "$(id -u)" = 0 ] && chown nobody "$T/spool-pol"
sed -e "s|^address = 127.0.0.1:$PROXY_465\$|address = 127.0.0.1:$PROXY_POL|" \
    -e "s|^spool_dir = .*|spool_dir = $T/spool-pol|" \
    -e "s|^user bob = provider-starttls\$|user bob = provider-starttls tenant=globex|" \
    -e "/^\\[listen submission\\]/,/^key/d" \
    -e "/^\\[listen submission-lb\\]/,/^trusted_proxies/d" \
    "$T/crm-proxy.conf" >"$T/crm-proxy-pol.conf"
printf '\n[tenant acme]\nblock_domains = blocked.example\n\n[tenant globex]\ndomains = globex.example\n' >>"$T/crm-proxy-pol.conf"
"$B/crm-proxy" --check -c "$T/crm-proxy-pol.conf" >/dev/null ||
	{ cat "$T/crm-proxy-pol.conf"; fail "policy config rejected"; }
"$B/crm-proxy" -c "$T/crm-proxy-pol.conf" -F >>"$T/crm-proxy-pol.log" 2>&1 &
POL_PID=$!
track_pid "$POL_PID" crm-proxy-pol
wait_port "$PROXY_POL" 10 "$POL_PID" || fail "policy proxy not listening"
SPOOL_DIR_POL="$T/spool-pol"
sed -i "s|^dir = .*|dir = $SPOOL_DIR_POL|" "$T/capture.conf"
"$B/crm-capture" -c "$T/capture.conf" >>"$T/capture-pol.log" 2>&1 &
track_pid $! crm-capture-pol
before="$(smtp_count)"
swaks --silent 2 --server "127.0.0.1:$PROXY_POL" --tlsc \
    --auth PLAIN --auth-user alice --auth-password alicepw \
    --from alice@example.test --to counsel@blocked.example \
    --header "Subject: policy-blocked-7c1" || fail "blocked message not sent"
swaks --silent 2 --server "127.0.0.1:$PROXY_POL" --tlsc \
    --auth PLAIN --auth-user bob --auth-password bobpw \
    --from bob@example.test --to c9@example.test \
    --header "Subject: policy-globex-7c1" || fail "globex message not sent"
[ "$(smtp_count)" = $((before + 2)) ] ||
	fail "the provider did not get both messages (mail must flow)"
grep -q 'capture drop: reason=blocked-domain rule=blocked.example tenant=acme user=alice .*source=smtp' \
    "$T/crm-proxy-pol.log" || { tail "$T/crm-proxy-pol.log"; fail "no audit line for the drop"; }
if grep -rqa "policy-blocked-7c1" "$T/spool-pol"; then
	fail "a blocked message reached the spool"
fi
for _ in $(seq 100); do
	kcat -C -b "$KAFKA_BOOTSTRAP" -t crm.mail.v1 -e -q \
	    -f '%k\t%s\n--\n' >"$T/pol.kcat" 2>/dev/null
	grep -q "policy-globex-7c1" "$T/pol.kcat" && break
	sleep 0.2
done
grep -q "^globex/bob	" "$T/pol.kcat" ||
	fail "bob's message is not keyed with his route's tenant (globex/bob)"
if grep -q "policy-blocked-7c1" "$T/pol.kcat"; then
	fail "a blocked message reached Kafka"
fi
note "blocked domain: delivered, not in the spool nor on Kafka, audited; route tenant globex keys bob's event"

pass "smtp_submission"
