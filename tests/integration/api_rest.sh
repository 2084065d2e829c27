#!/usr/bin/env bash
# api_rest.sh - crm-api, the managers' REST API (docs/api.md), against a
# real PostgreSQL 15, the embedded vector store and the real
# all-MiniLM-L6-v2 model, with curl as the client, over TLS.
#
#   1. the labelled retrieval set indexed for tenants acme and globex
#      (crm-search-ingest), two accounts each; a token per tenant from
#      crm-admin, shown once and stored only as a SHA-256
#   2. GET /v1/search answers what crm-search --json answers for the same
#      tenant, query and range; /v1/accounts lists the tenant's accounts
#   3. isolation: each token sees its own tenant only, in search and in
#      accounts, whatever the query string asks for
#   4. refusals: no token, a malformed or unknown or revoked one (401 with
#      WWW-Authenticate), a bad parameter (400), an unknown path (404),
#      POST (405), oversized headers; the daemon never logs a token or a
#      query string, and --check refuses plaintext on a public address
#   5. the database stopped: /v1/health and searches answer 503, then
#      recover when it is back, without a restart
. "$(dirname "$0")/../lib/common.sh"
scenario_init api_rest 46
. "$TLIB/postgres.sh"
. "$TLIB/index.sh"
need_cmd psql curl
FIX="$ROOT/tests/fixtures/retrieval"

make -s -C "$ROOT" B="$B" "$B/crm-migrate" "$B/crm-search" "$B/crm-index" \
	"$B/crm-vec" "$B/crm-search-ingest" "$B/crm-admin" "$B/crm-api" >/dev/null ||
	fail "build"

step "PostgreSQL, migrations, data for two tenants"
alloc_port PGP
pg_start "$T/pg" "$PGP" crm || skip "PostgreSQL 15 is not installed"
pg_migrate
index_stack	# the model, LOGIN for crm_enrich and crm_api, $T/search.conf
search_conf "$T/crm_enrich.conf" crm_enrich
cp "$T/search.conf" "$T/crm_api.conf"
# Sanitized builds (ASan, valgrind) index the first 40 emails (three of
# them account 105's): the same checks, a fifth of the embedding.
if [ "${CRM_SANITIZED:-0}" = 1 ]; then
	head -n 40 "$FIX/emails.jsonl" >"$T/acme.jsonl"
else
	cp "$FIX/emails.jsonl" "$T/acme.jsonl"
fi
"$PY" - "$T/acme.jsonl" >"$T/globex.jsonl" <<'PYEOF'
import json, sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    m["id"] = "tb-" + m["id"][3:]
    print(json.dumps(m))
PYEOF
# Under make check-valgrind (crm-X wraps crm-X.real), the bulk tools run
# natively: they are not what this scenario tests, and the forward pass
# of 412 emails under memcheck takes the better part of an hour.
INGEST="$B/crm-search-ingest" CLI="$B/crm-search"
[ -x "$INGEST.real" ] && INGEST="$INGEST.real"
[ -x "$CLI.real" ] && CLI="$CLI.real"
"$INGEST" -c "$T/crm_enrich.conf" --tenant acme "$T/acme.jsonl" \
	>/dev/null || fail "ingest acme"
"$INGEST" -c "$T/crm_enrich.conf" --tenant globex "$T/globex.jsonl" \
	>/dev/null || fail "ingest globex"
for t in acme:Halcyon:halcyon.example globex:Initech:initech.example; do
	IFS=: read -r ten name dom <<<"$t"
	psql -X -q -v ON_ERROR_STOP=1 -U crm_enrich -c "BEGIN;
		SELECT set_config('crm.tenant_id', '$ten', true);
		INSERT INTO tenants (tenant_id) VALUES ('$ten') ON CONFLICT DO NOTHING;
		WITH a AS (INSERT INTO accounts (tenant_id, name) VALUES ('$ten', '$name Retail') RETURNING id)
		INSERT INTO account_domains (tenant_id, domain, account_id) SELECT '$ten', '$dom', id FROM a;
		INSERT INTO accounts (tenant_id, name) VALUES ('$ten', '$name Second');
		COMMIT;" >/dev/null || fail "accounts for $ten"
done

step "tokens"
export DATABASE_URL="host=127.0.0.1 port=$PGP dbname=crm user=crm_enrich"
TOK_A="$("$B/crm-admin" token create --tenant acme --name dashboard)" || fail "token acme"
TOK_G="$("$B/crm-admin" token create --tenant globex --name dashboard)" || fail "token globex"
TOK_R="$("$B/crm-admin" token create --tenant acme --name old)" || fail "token old"
[[ "$TOK_A" =~ ^crm_[A-Za-z0-9_-]{43}$ ]] || fail "token form: $TOK_A"
"$B/crm-admin" token create --tenant acme --name dashboard >/dev/null 2>"$T/dup.err" &&
	fail "a second token named dashboard was made"
grep -q "exists already" "$T/dup.err" || fail "duplicate name: $(cat "$T/dup.err")"
"$B/crm-admin" token revoke --tenant acme --name old >/dev/null || fail "revoke"
"$B/crm-admin" token list --tenant acme >"$T/list.txt" || fail "list"
grep -q "^dashboard created=" "$T/list.txt" && grep -q "^old created=.* revoked=" "$T/list.txt" ||
	fail "token list: $(cat "$T/list.txt")"
grep -q "crm_" "$T/list.txt" && fail "token list shows a token"
hashes="$(pg_psql -At -c "SELECT count(*) FROM api_tokens WHERE token_hash = sha256('$TOK_A'::bytea)")"
[ "$hashes" = 1 ] || fail "the stored hash is not the token's SHA-256"
pg_psql -At -c "SELECT encode(token_hash, 'escape') FROM api_tokens" | grep -q "crm_" &&
	fail "a token is stored in clear"
psql -X -q -U crm_api -c "SELECT * FROM api_tokens" >/dev/null 2>&1 &&
	fail "crm_api can read api_tokens"
note "3 tokens; list shows names and dates only; only SHA-256 stored; crm_api cannot read the table"

step "crm-api over TLS"
"$ROOT/certs/crm-certs" ca "$T/pki" >/dev/null &&
	"$ROOT/certs/crm-certs" issue "$T/pki" localhost --san DNS:localhost,IP:127.0.0.1 \
		--out api >/dev/null || fail "certificates"
alloc_port APIP
cp "$T/crm_api.conf" "$T/api.conf"
cat >>"$T/api.conf" <<CONF

[api]
listen = 127.0.0.1:$APIP
cert = $T/pki/api.pem
key = $T/pki/api.key
# 48 requests at once take each worker longer than the 10 s default
# under valgrind (make check-valgrind)
request_timeout = 120s
CONF
"$B/crm-api" --check -c "$T/api.conf" >/dev/null || fail "--check refused the config"
sed "s|^listen = .*|listen = 0.0.0.0:$APIP|; /^cert = /d; /^key = /d" "$T/api.conf" >"$T/open.conf"
"$B/crm-api" --check -c "$T/open.conf" >/dev/null 2>"$T/open.err" &&
	fail "--check accepted plaintext on 0.0.0.0"
grep -q "tokens would cross the network in clear" "$T/open.err" || fail "$(cat "$T/open.err")"
"$B/crm-api" -c "$T/api.conf" >>"$T/api.log" 2>&1 &
API_PID=$!
track_pid "$API_PID" crm-api
wait_port "$APIP" 120 "$API_PID" || fail "crm-api did not listen"
U="https://localhost:$APIP"
get() { # TOKEN PATH -> body on stdout; the status in $T/code
	local auth=()
	[ -n "$1" ] && auth=(-H "Authorization: Bearer $1")
	curl -sS --max-time 60 --cacert "$T/pki/ca.pem" "${auth[@]}" \
		-o "$T/body" -w '%{http_code}' "$U$2" >"$T/code" || fail "curl $2"
	cat "$T/body"
}
want() { # CODE
	[ "$(cat "$T/code")" = "$1" ] || fail "HTTP $(cat "$T/code"), want $1: $(cat "$T/body")"
}
get "" /v1/health >/dev/null; want 200
note "health: $(cat "$T/body")"

step "search answers what crm-search answers"
for q in "buyer complained about pricing" "security questionnaire" "renewal"; do
	enc="$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$q")"
	get "$TOK_A" "/v1/search?q=$enc&since=2026-01-01&limit=10" >"$T/api.json"; want 200
	"$CLI" -c "$T/crm_api.conf" --tenant acme --since 2026-01-01 -n 10 --json "$q" \
		>"$T/cli.json" || fail "crm-search"
	"$PY" - "$T/api.json" "$T/cli.json" <<'PYEOF' || fail "'$q': API and CLI differ"
import json, sys
a, c = (json.load(open(p)) for p in sys.argv[1:3])
keys = lambda d: [r["message_key"] for g in d["accounts"] for r in g["results"]]
assert a["tenant"] == "acme" and a["count"] > 0, a
assert keys(a) == keys(c), (keys(a), keys(c))
assert a["since"] == c["since"] == "2026-01-01T00:00:00Z"
PYEOF
done
note "3 queries: same results, same order as crm-search --json"
get "$TOK_A" "/v1/search?q=buyer+complained+about+pricing+last+month" >"$T/phrase.json"; want 200
"$PY" - "$T/phrase.json" <<'PYEOF' || fail "time phrase"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["query"] == "buyer complained about pricing" and d["since"] is not None, d
PYEOF
get "$TOK_A" "/v1/search?q=pricing&account=105&limit=5" >"$T/acct.json"; want 200
"$PY" - "$T/acct.json" <<'PYEOF' || fail "account filter"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["count"] > 0 and all(g["account_id"] == 105 for g in d["accounts"]), d
PYEOF
get "$TOK_A" /v1/accounts >"$T/acc.json"; want 200
"$PY" - "$T/acc.json" acme Halcyon <<'PYEOF' || fail "accounts"
import json, sys
d = json.load(open(sys.argv[1]))
names = sorted(a["name"] for a in d["accounts"])
assert d["tenant"] == sys.argv[2] and names == [sys.argv[3] + " Retail", sys.argv[3] + " Second"], d
assert [a for a in d["accounts"] if a["name"].endswith("Retail")][0]["domains"] == ["halcyon.example"], d
PYEOF
note "time phrase, account filter, accounts list"

step "isolation"
get "$TOK_G" /v1/accounts >"$T/accg.json"; want 200
grep -q Halcyon "$T/accg.json" && fail "globex sees acme's accounts"
grep -q "Initech Retail" "$T/accg.json" || fail "globex does not see its own accounts"
for q in "buyer complained about pricing" "renewal" "security"; do
	enc="$("$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote_plus(sys.argv[1]))' "$q")"
	get "$TOK_G" "/v1/search?q=$enc&limit=50" >"$T/g.json"; want 200
	"$PY" - "$T/g.json" <<'PYEOF' || fail "globex search returned acme's messages"
import json, sys
d = json.load(open(sys.argv[1]))
ks = [r["message_key"] for g in d["accounts"] for r in g["results"]]
assert d["tenant"] == "globex" and ks and all(k.startswith("tb-") for k in ks), ks
PYEOF
done
get "$TOK_G" "/v1/search?q=pricing&tenant=acme" >/dev/null; want 400
note "globex token: own accounts and messages only; ?tenant= refused"

step "refusals"
get "" "/v1/search?q=pricing" >/dev/null; want 401
grep -qi "^www-authenticate: Bearer" < <(curl -sS -D - -o /dev/null --cacert "$T/pki/ca.pem" "$U/v1/accounts") ||
	fail "no WWW-Authenticate on 401"
get "crm_short" /v1/accounts >/dev/null; want 401
get "crm_$(printf 'A%.0s' $(seq 43))" /v1/accounts >/dev/null; want 401
get "$TOK_R" /v1/accounts >/dev/null; want 401
get "$TOK_A" "/v1/search" >/dev/null; want 400
get "$TOK_A" "/v1/search?q=x&limit=0" >/dev/null; want 400
get "$TOK_A" "/v1/search?q=x&limit=1&limit=2" >/dev/null; want 400
get "$TOK_A" "/v1/search?q=%ff%fe" >/dev/null; want 400
get "$TOK_A" "/v1/search?q=a%0Ab" >/dev/null; want 400
get "$TOK_A" "/v1/search?q=x&since=yesterdayish" >/dev/null; want 400
get "$TOK_A" "/v1/search?q=$(head -c 3000 /dev/zero | tr '\0' a)" >/dev/null; want 400
get "$TOK_A" /v1/nothing >/dev/null; want 404
code="$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/pki/ca.pem" -X POST \
	-H "Authorization: Bearer $TOK_A" "$U/v1/search?q=x")"
[ "$code" = 405 ] || fail "POST: HTTP $code, want 405"
code="$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/pki/ca.pem" \
	-H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "$U/v1/health")"
[ "$code" = 400 ] || [ "$code" = 413 ] || [ "$code" = 431 ] || fail "9 KB header: HTTP $code"
for t in "$TOK_A" "$TOK_G" "$TOK_R"; do
	grep -qF "$t" "$T/api.log" && fail "a token reached the log"
done
grep -q "complained" "$T/api.log" && fail "a query string reached the log"
grep -q "GET /v1/search 200 [0-9]* ms tenant=acme token=dashboard" "$T/api.log" ||
	fail "no request line in the log: $(tail -n 3 "$T/api.log")"
note "401 x4, 400 x7, 404, 405, $code for a 9 KB header; no token or query in the log"

step "two workers, side by side"
# 48 requests at once, both tenants, searches and lists: each answer must
# be the one the same request got alone, and both workers must serve
cat >"$T/conc.py" <<'PYEOF'
import concurrent.futures, json, ssl, sys, time, urllib.request
base, ca, ta, tg = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=ca)
reqs = [(t, p) for t in (ta, tg) for p in (
    "/v1/search?q=buyer+complained+about+pricing&limit=10",
    "/v1/search?q=security+review&limit=10",
    "/v1/search?q=renewal&since=2026-01-01&limit=20",
    "/v1/accounts")]
def get(rq):
    tok, path = rq
    r = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + tok})
    with urllib.request.urlopen(r, context=ctx, timeout=120) as f:
        return f.status, json.load(f)
t0 = time.monotonic()
alone = {rq: get(rq) for rq in reqs}
t1 = time.monotonic()
assert all(st == 200 for st, _ in alone.values()), alone
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    work = reqs * 6
    got = list(ex.map(get, work))
t2 = time.monotonic()
bad = [(rq, g) for rq, g in zip(work, got) if g != alone[rq]]
assert not bad, bad[:2]
print("%.1f ms a request alone, %.1f at 16 at once" %
      ((t1 - t0) * 1000 / len(reqs), (t2 - t1) * 1000 / len(work)))
PYEOF
rss() { # resident, and of it the process's own (not the mapped model files)
	awk '/^VmRSS/ { r = $2 } /^RssAnon/ { a = $2 }
		END { printf "%d MB, %d MB anonymous", r / 1024, a / 1024 }' "/proc/$1/status"
}
"$PY" "$T/conc.py" "$U" "$T/pki/ca.pem" "$TOK_A" "$TOK_G" >"$T/conc2" ||
	fail "concurrent requests"
for i in 0 1; do
	grep -q "GET /v1/[a-z]* 200 [0-9]* ms tenant=[a-z]* token=[a-z]* worker=$i\$" "$T/api.log" ||
		fail "worker $i served nothing: $(grep -c ' worker=' "$T/api.log") request lines"
done
note "48 requests at once (16 clients): every answer equal to the same request's alone; both workers served ($(grep -c ' worker=0$' "$T/api.log") / $(grep -c ' worker=1$' "$T/api.log") request lines); $(cat "$T/conc2"); RSS $(rss "$API_PID")"
# the same with one worker, on the same data
alloc_port APIP1
sed "s|^listen = .*|listen = 127.0.0.1:$APIP1|; /^\[api\]/a workers = 1" "$T/api.conf" >"$T/one.conf"
"$B/crm-api" -c "$T/one.conf" >>"$T/one.log" 2>&1 &
ONE_PID=$!
track_pid "$ONE_PID" crm-api
wait_port "$APIP1" 120 "$ONE_PID" || fail "crm-api with one worker did not listen"
# the socket listens before the workers are up: the start line follows
for _ in $(seq 300); do grep -q "listening on" "$T/one.log" && break; sleep 0.1; done
grep -q "(TLS), 1 worker;" "$T/one.log" || fail "start line: $(head -n 2 "$T/one.log")"
"$PY" "$T/conc.py" "https://localhost:$APIP1" "$T/pki/ca.pem" "$TOK_A" "$TOK_G" >"$T/conc1" ||
	fail "concurrent requests, one worker"
grep -q " worker=1$" "$T/one.log" && fail "one worker, yet worker=1 served"
note "one worker: the same answers; $(cat "$T/conc1"); RSS $(rss "$ONE_PID")"
stop_pid "$ONE_PID" 10 || fail "crm-api with one worker did not stop"

step "rate limit per token"
# a second daemon on the same data, limited to 1/min with bursts of 3:
# the fourth request of a token is refused whatever the machine's speed
alloc_port APIP2
{ sed "s|^listen = .*|listen = 127.0.0.1:$APIP2|" "$T/api.conf"
  printf 'rate = 1/min\nburst = 3\n'; } >"$T/rate.conf"
"$B/crm-api" -c "$T/rate.conf" >>"$T/rate.log" 2>&1 &
RATE_PID=$!
track_pid "$RATE_PID" crm-api
wait_port "$APIP2" 120 "$RATE_PID" || fail "the rate-limited crm-api did not listen"
U_MAIN="$U"
U="https://localhost:$APIP2"
for i in 1 2 3; do get "$TOK_A" /v1/accounts >/dev/null; want 200; done
after="$(curl -sS -D - -o "$T/body" --cacert "$T/pki/ca.pem" \
	-H "Authorization: Bearer $TOK_A" "$U/v1/accounts" |
	tr -d '\r' | awk -F': ' 'tolower($1) == "retry-after" { print $2 }')"
grep -q '"too many requests: the limit is 1/min per token, bursts of 3; retry after' "$T/body" ||
	fail "fourth request: $(cat "$T/body")"
[ -n "$after" ] && [ "$after" -ge 1 ] && [ "$after" -le 60 ] ||
	fail "Retry-After '$after', want 1-60 s"
get "$TOK_A" "/v1/search?q=pricing" >/dev/null; want 429
get "$TOK_G" /v1/accounts >/dev/null; want 200
get "" /v1/health >/dev/null; want 200
get "$TOK_A" "/v1/search?q=x&limit=0" >/dev/null; want 400
# one table for both workers: globex has two requests left, whichever
# worker takes them
"$PY" - "$U" "$T/pki/ca.pem" "$TOK_G" <<'PYEOF' >"$T/burst" || fail "parallel burst"
import concurrent.futures, ssl, sys, urllib.error, urllib.request
base, ca, tok = sys.argv[1:4]
ctx = ssl.create_default_context(cafile=ca)
def get(_):
    r = urllib.request.Request(base + "/v1/accounts", headers={"Authorization": "Bearer " + tok})
    try:
        with urllib.request.urlopen(r, context=ctx, timeout=60) as f:
            return f.status
    except urllib.error.HTTPError as e:
        return e.code
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    codes = sorted(ex.map(get, range(8)))
assert codes == [200, 200] + [429] * 6, codes
PYEOF
grep -q "GET /v1/accounts 429 [0-9]* ms tenant=acme token=dashboard" "$T/rate.log" ||
	fail "no 429 request line in the log: $(tail -n 3 "$T/rate.log")"
grep -q "rate per token 1/min, bursts of 3" "$T/rate.log" ||
	fail "the start line does not say the limit: $(head -n 3 "$T/rate.log")"
U="$U_MAIN"
stop_pid "$RATE_PID" 10 || fail "the rate-limited crm-api did not stop"
note "1/min, bursts of 3: three 200s, then 429 with Retry-After $after s for that token only; health and 400s unaffected; 8 at once from a token with 2 left: two 200s, six 429s"

step "the database goes away and comes back"
pg_stop "$T/pg"
get "" /v1/health >/dev/null; want 503
get "$TOK_A" "/v1/search?q=pricing" >/dev/null; want 503
kill -0 "$API_PID" || fail "crm-api died with the database"
pg_up() {
	_pg_as_owner "$PG_BIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/postgres.log" -w -t 30 start \
		-o "-c listen_addresses=127.0.0.1 -c port=$PGP -c unix_socket_directories=$T/pg -c fsync=off" \
		>/dev/null || fail "postgres restart"
	track_pid "$(head -n 1 "$T/pg/data/postmaster.pid")" postgres
}
pg_up
get "" /v1/health >/dev/null; want 200
get "$TOK_A" "/v1/search?q=pricing" >/dev/null; want 200
get "$TOK_A" /v1/accounts >/dev/null; want 200
# restarted between two requests: the first one after it must not fail
pg_stop "$T/pg"
pg_up
get "$TOK_A" "/v1/search?q=pricing" >/dev/null; want 200
get "$TOK_G" /v1/accounts >/dev/null; want 200
note "503 while it was down; 200 again after, same process, and at once after a restart between requests"

stop_pid "$API_PID" 10 || fail "crm-api did not stop on SIGTERM"
pass "crm-api: search as crm-search, accounts, tenant isolation, two workers, 401/400/404/405, no token in logs, rate limits, database outage"
