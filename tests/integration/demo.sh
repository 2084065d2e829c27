#!/usr/bin/env bash
# demo.sh - the README's first command, after its install step: the script
# behind `make demo` (packaging/demo.sh) starts Dovecot with the demo mail,
# crm-proxy and the capture pipeline behind it, and reads the mail once
# through the proxy.  Then:
#   - a real client (curl, IMAPS, verifying the demo CA) reads through the
#     proxy what the demo printed: INBOX holds 164 messages, Sent 42;
#   - every one of the 206 messages is a row in PostgreSQL (the demo waits
#     for that before printing);
#   - the crm-search question it prints ("buyer complained about pricing
#     last month") answers with at least one email that the labelled set
#     tags as a price complaint, among its top five;
#   - the crm-api search the demo printed answers over TLS with the demo
#     token, and finds a labelled price complaint;
#   - `demo.sh stop` ends every process the demo started, and no log shows
#     a crash or a sanitizer report;
#   - a start that fails half-way (a crm-index that cannot run) stops the
#     servers it had already started and keeps its state directory.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/../lib/common.sh"

scenario_init demo 50
need_cmd curl
[ -x "$B/crm-proxy" ] && [ -x "$B/crm-index" ] ||
	fail "build first: make"

step "packaging/demo.sh start (state in $T/demo)"
t0=$(now_ms)
CRM_DEMO_DIR="$T/demo" CRM_DEMO_PORT_BASE="$_port_next" B="$B" \
	"$ROOT/packaging/demo.sh" start >"$T/demo.out" 2>&1
rc=$?
for p in $(cat "$T/demo/pids" 2>/dev/null); do
	track_pid "$p" "demo pid $p"
done
[ $rc = 0 ] || { cat "$T/demo.out" >&2; fail "demo start exited $rc"; }
note "started in $(($(now_ms) - t0)) ms, $(wc -w <"$T/demo/pids") processes"
sed 's/^/  | /' "$T/demo.out"
grep -q 'missing' "$T/demo.out" &&
	fail "the demo started without its pipeline"

port="$(sed -n 's/.*or port \([0-9]*\) with SSL\/TLS.*/\1/p' "$T/demo.out")"
ca="$(sed -n 's/.*trust the demo CA \(.*\)$/\1/p' "$T/demo.out")"
[ -n "$port" ] && [ -f "$ca" ] || fail "no IMAPS port or CA in the demo's output"

step "a mail client reads through the proxy"
for box in INBOX:164 Sent:42; do
	got="$(curl -s --cacert "$ca" -u alice:alicepw \
	    "imaps://localhost:$port/" -X "STATUS ${box%%:*} (MESSAGES)")" ||
		fail "curl STATUS ${box%%:*}"
	echo "$got" | grep -q "MESSAGES ${box#*:})" ||
		fail "STATUS ${box%%:*}: $got (want ${box#*:} messages)"
	note "${box%%:*}: ${box#*:} messages"
done

step "the pipeline holds every message, and the question finds a price complaint"
grep -q '(206 messages,' "$T/demo.out" ||
	fail "the demo did not report 206 messages captured"
# the labelled price complaints, by the start of their text (the answer
# prints each result's first words; subjects repeat across threads)
"$PY" -c 'import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if "price_complaint" in e["topics"]:
        print(" ".join(e["body"].split())[:60])' \
	"$ROOT/tests/fixtures/retrieval/emails.jsonl" >"$T/complaints.txt"
sed -n '/Ask it/,$p' "$T/demo.out" >"$T/answer.txt"
hits=0
while IFS= read -r start; do
	grep -qF -- "$start" "$T/answer.txt" && hits=$((hits + 1))
done <"$T/complaints.txt"
[ "$hits" -ge 1 ] || { cat "$T/answer.txt" >&2; fail "no price complaint in the answer"; }
note "$hits of the answer's 5 results are labelled price complaints ($(wc -l <"$T/complaints.txt") in the mailbox)"

step "the managers' API, as the demo printed it"
url="$(sed -n 's|.*"\(https://localhost:[0-9]*/v1/search?[^"]*\)".*|\1|p' "$T/demo.out")"
[ -n "$url" ] && [ -s "$T/demo/api.token" ] ||
	fail "no crm-api URL or token in the demo's output"
curl -sS --max-time 20 --cacert "$ca" \
	-H "Authorization: Bearer $(cat "$T/demo/api.token")" "$url" >"$T/api.json" ||
	fail "curl $url"
"$PY" - "$T/api.json" "$T/complaints.txt" <<'PYEOF' || fail "the API's answer: $(head -c 300 "$T/api.json")"
import json, sys
d = json.load(open(sys.argv[1]))
starts = [l.strip() for l in open(sys.argv[2]) if l.strip()]
texts = [" ".join(r["text"].split()) for g in d["accounts"] for r in g["results"]]
assert d["tenant"] == "acme" and d["count"] > 0, d
hit = sum(1 for t in texts if any(t.startswith(s) for s in starts))
assert hit >= 1, texts
print(f"  crm-api: {d['count']} results, {hit} labelled price complaints")
PYEOF
[ "$(stat -c %a "$T/demo/api.token")" = 600 ] || fail "the demo token file is not mode 600"

step "packaging/demo.sh stop"
CRM_DEMO_DIR="$T/demo" "$ROOT/packaging/demo.sh" stop >/dev/null
for p in "${_pids[@]}"; do
	for _ in $(seq 1 150); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$p" 2>/dev/null && fail "pid $p still runs 15 s after demo stop"
done
note "every demo process has exited"
if grep -rlE 'AddressSanitizer|LeakSanitizer|runtime error:|Segmentation|core dumped' \
    "$T/demo" --include='*.log' >"$T/crashed.txt"; then
	cat "$T/crashed.txt" >&2
	fail "a demo process reported a crash or sanitizer finding"
fi
step "a start that fails half-way stops what it had started"
# The same build, but a crm-index that refuses to run: PostgreSQL, Kafka,
# Dovecot and crm-capture are up by the time the demo reaches it.
mkdir -p "$T/badbuild"
for f in "$B"/*; do ln -s "$f" "$T/badbuild/"; done
rm -f "$T/badbuild/crm-index"
printf '#!/bin/sh\necho "crm-index: refusing to start (demo.sh test)" >&2\nexit 3\n' \
	>"$T/badbuild/crm-index"
chmod 755 "$T/badbuild/crm-index"
# (ports clear of the first start's, whose sockets may linger in TIME-WAIT)
CRM_DEMO_DIR="$T/demo-fail" CRM_DEMO_PORT_BASE=$((_port_next + 50)) B="$T/badbuild" \
	"$ROOT/packaging/demo.sh" start >"$T/demo-fail.out" 2>&1 &&
	fail "the demo started with a crm-index that cannot run"
grep -q 'crm-index' "$T/demo-fail.out" ||
	{ cat "$T/demo-fail.out" >&2; fail "the failed start does not say what failed"; }
sleep 1
left="$(pgrep -f -- "$T/demo-fail" || true)"
if [ -n "$left" ]; then
	ps -o pid,args -p "$(echo $left | tr ' ' ,)" >&2
	kill $left 2>/dev/null
	fail "a failed demo start left processes running"
fi
[ -d "$T/demo-fail" ] || fail "the failed start did not keep its state for inspection"
note "$(grep -c . "$T/demo-fail.out") lines of output, nothing left running, state kept"

pass "make demo: proxy + pipeline up, a client reads through it, the question is answered, stop is clean, a failed start cleans up"
