#!/usr/bin/env bash
# imap_clients.sh - real IMAP clients through the target, TLS on both legs
# (issue 2, "Must show" 1 and 7).
#
# Client sends                         upstream (Dovecot) must have / show
# curl imaps:// LIST FETCH SEARCH APPEND   the appended bytes, unchanged
# curl imap:// --ssl-reqd (STARTTLS) same  same
# curl with a CA that signed nothing       refused: clients verify the target
# imaplib STARTTLS and IMAP4_SSL: login,   appends land; fetch returns the
#   select, fetch, append, search, logout  bytes doveadm reads from the store
# a client from 127.0.0.2                  login logged with rip=127.0.0.2
#                                          (proxy: forwarded in ID
#                                          x-originating-ip)
# neomutt in tmux reads the INBOX index    the demo subjects, decoded, and a
#   and opens a message                    message body on screen
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"
. "$TLIB/dovecot.sh"
. "$TLIB/proxy.sh"

scenario_init imap_clients 1
need_cmd curl neomutt tmux
# carol's password needs both IMAP quoted-string escapes
DOVECOT_EXTRA_USERS='carol:{PLAIN}pa"ss\word::::::' dovecot_start
target_start

step "demo mail for alice"
demo() { # N SUBJECT BODY
	printf 'From: %s\nTo: Alice Seller <alice@example.test>\nDate: Mon, 0%d Mar 2026 09:00:00 +0000\nMessage-ID: <demo-%d@example.test>\nSubject: %s\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n%s\n' \
		"Dana Buyer <dana@acme.example>" "$1" "$1" "$2" "$3"
}
demo 1 "Pilot results for ACME" "crm-demo-body: the pilot met every target." |
	dovecot_deliver alice || fail "deliver"
demo 2 "=?utf-8?Q?Angebot_f=C3=BCr_Lizenzen?=" "crm-demo-body: Grüße aus München." |
	dovecot_deliver alice || fail "deliver"
demo 3 "Renewal for 2026" "crm-demo-body: renewal quote attached next week." |
	dovecot_deliver alice || fail "deliver"

H="$TARGET_HOST"
CURL=(curl -sS --max-time 20 --cacert "$TARGET_CA" -u alice:alicepw)
for mode in imaps starttls; do
	if [ $mode = imaps ]; then
		U="imaps://$H:$TARGET_IMAPS"
		C=("${CURL[@]}")
	else
		U="imap://$H:$TARGET_IMAP"
		C=("${CURL[@]}" --ssl-reqd)
	fi
	step "curl $mode: LIST / FETCH / SEARCH / APPEND"
	"${C[@]}" "$U/" >"$T/list.$mode" || fail "curl $mode LIST"
	grep -q '"Drafts"\|Drafts' "$T/list.$mode" || fail "curl $mode LIST lacks Drafts"
	"${C[@]}" "$U/INBOX;UID=1" >"$T/fetch.$mode" || fail "curl $mode FETCH"
	grep -q 'Subject: Pilot results for ACME' "$T/fetch.$mode" ||
		fail "curl $mode FETCH: wrong message"
	"${C[@]}" "$U/INBOX" -X 'SEARCH SUBJECT Renewal' >"$T/search.$mode" ||
		fail "curl $mode SEARCH"
	grep -q '^\* SEARCH 3' "$T/search.$mode" ||
		fail "curl $mode SEARCH: got $(cat "$T/search.$mode")"
	printf 'From: alice@example.test\r\nTo: dana@acme.example\r\nSubject: curl-%s-append\r\nMessage-ID: <curl-%s@example.test>\r\n\r\nappended via curl %s, 8bit: d\xc3\xa9j\xc3\xa0 vu\r\n' \
		$mode $mode $mode >"$T/append.$mode.eml"
	"${C[@]}" "$U/Drafts" -T "$T/append.$mode.eml" || fail "curl $mode APPEND"
	# what the upstream stored must be the bytes the client sent
	dovecot_doveadm fetch -u alice text mailbox Drafts \
		header message-id "<curl-$mode@example.test>" |
		sed '1{/^text:$/d}' >"$T/stored.$mode.eml"
	cmp -s <(tr -d '\r' <"$T/append.$mode.eml") \
		<(tr -d '\r' <"$T/stored.$mode.eml") ||
		fail "curl $mode APPEND: stored message differs from the one sent"
	note "curl $mode ok: list, fetch $(wc -c <"$T/fetch.$mode") bytes, search, append stored intact"
done

step "curl refuses a target its CA did not sign"
if curl -sS --max-time 10 --cacert "$T/certs/rogue-ca.pem" \
	"imaps://$H:$TARGET_IMAPS/" -u alice:alicepw >/dev/null 2>"$T/rogue.err"; then
	fail "curl accepted the target with the wrong CA: verification is not real"
fi
note "refused: $(head -n 1 "$T/rogue.err")"

step "python imaplib: STARTTLS and IMAP4_SSL"
"$PY" - "$H" "$TARGET_IMAP" "$TARGET_IMAPS" "$TARGET_CA" <<'PY' || fail "imaplib"
import imaplib, ssl, sys, time
host, port, sport, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
for mode in ("starttls", "ssl"):
    if mode == "starttls":
        m = imaplib.IMAP4(host, port, timeout=20)
        assert "STARTTLS" in m.capabilities, m.capabilities
        m.starttls(ssl_context=ctx)
    else:
        m = imaplib.IMAP4_SSL(host, sport, ssl_context=ctx, timeout=20)
    typ, _ = m.login("alice", "alicepw"); assert typ == "OK"
    typ, n = m.select("INBOX"); assert typ == "OK" and int(n[0]) >= 3, n
    typ, d = m.fetch("2", "(BODY.PEEK[] FLAGS)"); assert typ == "OK"
    body = d[0][1]
    assert "Grüße aus München".encode() in body, body[-200:]
    msg = (b"From: alice@example.test\r\nSubject: imaplib-" + mode.encode()
           + b"\r\nMessage-ID: <imaplib-" + mode.encode()
           + b"@example.test>\r\n\r\nreply draft, caf\xc3\xa9\r\n")
    typ, r = m.append("Drafts", r"(\Draft $AIDraft)",
                      imaplib.Time2Internaldate(time.time()), msg)
    assert typ == "OK", r
    m.select("Drafts")
    typ, ids = m.search(None, "HEADER", "Message-ID",
                        "imaplib-%s@example.test" % mode)
    assert typ == "OK" and len(ids[0].split()) == 1, ids
    typ, d = m.fetch(ids[0], "(FLAGS BODY.PEEK[])")
    assert d[0][1] == msg, d[0][1]
    assert b"$AIDraft" in d[0][0] and b"\\Draft" in d[0][0], d[0][0]
    typ, _ = m.logout(); assert typ == "BYE"
    print("  imaplib %s ok: login select fetch append(+keywords) search logout" % mode)
PY
for mode in starttls ssl; do
	dovecot_doveadm search -u alice mailbox Drafts \
		header message-id "imaplib-$mode@example.test" | grep -q . ||
		fail "upstream has no imaplib-$mode draft"
done

step "a password with a quote and a backslash (the proxy quotes it again)"
"$PY" - "$H" "$TARGET_IMAPS" "$TARGET_CA" <<'PY' || fail "quoted password"
import imaplib, ssl, sys
host, sport, ca = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4_SSL(host, sport, ssl_context=ctx, timeout=20)
typ, _ = m.login("carol", 'pa"ss\\word'); assert typ == "OK"
m.logout()
m = imaplib.IMAP4_SSL(host, sport, ssl_context=ctx, timeout=20)
try:
    m.login("carol", "pa\"ss")
    raise SystemExit("a wrong password was accepted")
except imaplib.IMAP4.error:
    pass
print('  carol / pa"ss\\word: logged in; a prefix of it refused')
PY

step "client address reaches the upstream"
"$PY" - "$H" "$TARGET_IMAPS" "$TARGET_CA" <<'PY' || fail "login from 127.0.0.2"
import sys; sys.path.insert(0, __import__("os").environ["TLIB"])
from imapwire import Conn
c = Conn.open(sys.argv[1], int(sys.argv[2]), "implicit", sys.argv[3],
              source="127.0.0.2")
c.login("bob", "bobpw"); c.cmd(b"Z", b"LOGOUT"); c.close()
PY
sleep 0.2
if grep -q 'Login: user=<bob>.*rip=127\.0\.0\.2' "$DOVE_LOG"; then
	note "dovecot logged bob's login with rip=127.0.0.2"
else
	grep 'Login: user=<bob>' "$DOVE_LOG" >&2
	fail "the upstream did not see the client address 127.0.0.2"
fi

step "neomutt reads the INBOX through the target (tmux)"
: >"$T/mutt-certs"
cat >"$T/muttrc" <<EOF
set folder="imaps://alice@$H:$TARGET_IMAPS/"
set imap_user="alice"
set imap_pass="alicepw"
set spoolfile="+INBOX"
set record=""
set postponed="+Drafts"
set ssl_force_tls=yes
set ssl_ca_certificates_file="$TARGET_CA"
set certificate_file="$T/mutt-certs"
set header_cache=""
set message_cachedir=""
set imap_check_subscribed=no
set sort=date
set quit=yes
set move=no
set mark_old=no
set pager_stop=yes
set charset="utf-8"
EOF
TM=(tmux -S "$T/tmux.sock")
LANG=C.UTF-8 "${TM[@]}" new-session -d -s mutt -x 160 -y 40 \
	"LANG=C.UTF-8 neomutt -n -F '$T/muttrc'" || fail "tmux"
track_pid "$("${TM[@]}" display -p '#{pid}')" tmux
screen() { "${TM[@]}" capture-pane -t mutt -p >"$T/mutt.screen" 2>/dev/null; }
ok=0
for _ in $(seq 100); do
	screen
	grep -q 'Msgs:3' "$T/mutt.screen" && { ok=1; break; }
	grep -qi 'reject\|(o)nce' "$T/mutt.screen" && break
	sleep 0.1
done
[ $ok = 1 ] || { cat "$T/mutt.screen" >&2; fail "neomutt did not show the INBOX"; }
grep -q 'Pilot results for ACME' "$T/mutt.screen" &&
	grep -q 'Angebot für Lizenzen' "$T/mutt.screen" &&
	grep -q 'Renewal for 2026' "$T/mutt.screen" ||
	{ cat "$T/mutt.screen" >&2; fail "neomutt index lacks the demo subjects"; }
msgs="$(grep -o 'Msgs:[0-9]*' "$T/mutt.screen" | head -1)"
"${TM[@]}" send-keys -t mutt Enter
ok=0
for _ in $(seq 50); do
	screen
	grep -q 'crm-demo-body' "$T/mutt.screen" && { ok=1; break; }
	sleep 0.1
done
[ $ok = 1 ] || { cat "$T/mutt.screen" >&2; fail "neomutt did not show a message body"; }
note "neomutt: index $msgs with the 3 demo subjects; opened body: $(grep -o 'crm-demo-body:.*' "$T/mutt.screen" | head -1)"
"${TM[@]}" send-keys -t mutt q q
sleep 0.3
"${TM[@]}" kill-server 2>/dev/null

proxy_alive
proxy_check_log
pass "curl imaps+starttls, imaplib starttls+ssl, client address, neomutt ($TARGET_MODE)"
