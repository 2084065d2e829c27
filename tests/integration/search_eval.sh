#!/usr/bin/env bash
# search_eval.sh - hybrid search end to end on the labelled retrieval set
# (tests/fixtures/retrieval), against a real PostgreSQL 15 and the
# embedded vector store, with the real all-MiniLM-L6-v2 model and, as the
# second dense model ([embed2] / [vector2]), bge-small-en-v1.5 (int8 ONNX
# export rewritten as F32 by enrich/embed/onnx2st.py).
#
#   1. migrations applied; roles crm_enrich (ingest) and crm_api (search)
#      log in as non-owners, so row-level security applies to both
#   2. the 206 emails indexed for tenant "acme" by crm-search-ingest, and
#      the same emails under other keys for tenant "globex"
#   3. crm-search-eval: recall@10 and MRR for dense, full text and hybrid
#      on 71 queries (53 paraphrases, 18 lookups of named things; a fixed
#      dev half for tuning and a held-out test half); fails if the
#      measured hybrid recall@10 falls below SEARCH_RECALL_MIN (default
#      0.78, a regression floor under the 0.819 measured with both models
#      and the sales synonyms; the 0.9 goal is not met, see
#      docs/search.md), on the test half below SEARCH_TEST_MIN (default
#      0.78, under 0.807), or on lookups below SEARCH_LOOKUP_MIN (default
#      0.95); full text with the synonyms must beat it without them (the
#      synonyms are really applied), and hybrid with the second model must
#      differ from hybrid without it (the second list is really fused)
#   4. tenant isolation: searches for one tenant never return the other's
#      chunks, in every mode (so on the SQL side and in both vector stores), and SQL
#      as crm_api / crm_enrich cannot read or write across tenants
#   5. the CLI: --help, --since 30d (with --now), --account, grouping,
#      and re-ingestion is idempotent
. "$(dirname "$0")/../lib/common.sh"
scenario_init search_eval 41
. "$TLIB/postgres.sh"
need_cmd psql
MIN="${SEARCH_RECALL_MIN:-0.78}"
TEST_MIN="${SEARCH_TEST_MIN:-0.78}"
LOOKUP_MIN="${SEARCH_LOOKUP_MIN:-0.95}"
FIX="$ROOT/tests/fixtures/retrieval"

make -s -C "$ROOT" B="$B" "$B/crm-migrate" "$B/crm-search" "$B/crm-search-ingest" \
	"$B/crm-search-eval" >/dev/null || fail "build"
MODEL="$("$ROOT/enrich/embed/fetch-model.sh" | tail -n 1)" ||
	skip "cannot fetch the model (registry unreachable?)"
MODEL2="$("$ROOT/enrich/embed/fetch-model.sh" bge-small-en-v1.5-int8 | tail -n 1)" ||
	skip "cannot fetch the second model (registry unreachable?)"

step "PostgreSQL and migrations"
alloc_port PGP
pg_start "$T/pg" "$PGP" crm || skip "PostgreSQL 15 is not installed"
pg_migrate
pg_psql -c "ALTER ROLE crm_enrich LOGIN; ALTER ROLE crm_api LOGIN;" ||
	fail "roles"

conf() { # ROLE -> $T/ROLE.conf
	cat >"$T/$1.conf" <<CONF
[embed]
backend = local
model_dir = $MODEL

[vector]
backend = local
data_dir = $T/vec
sync = none

[embed2]
backend = local
model_dir = $MODEL2

[vector2]
backend = local
data_dir = $T/vec2
sync = none

[database]
conninfo = host=127.0.0.1 port=$PGP dbname=crm user=$1
CONF
}
conf crm_enrich
conf crm_api

step "ingest"
"$PY" - "$FIX/emails.jsonl" >"$T/globex.jsonl" <<'PYEOF'
import json, sys
for l in open(sys.argv[1]):
    m = json.loads(l)
    m["id"] = "tb-" + m["id"][3:]
    print(json.dumps(m))
PYEOF
t0=$(now_ms)
"$B/crm-search-ingest" -c "$T/crm_enrich.conf" --tenant acme "$FIX/emails.jsonl" ||
	fail "ingest acme"
note "acme: $(( $(now_ms) - t0 )) ms"
"$B/crm-search-ingest" -c "$T/crm_enrich.conf" --tenant globex "$T/globex.jsonl" ||
	fail "ingest globex"
n_emails=$(wc -l <"$FIX/emails.jsonl")
rows() { # TENANT ROLE: chunk rows visible
	psql -X -q -At -U "$2" -c "BEGIN; SELECT set_config('crm.tenant_id', '$1', true);
		SELECT count(DISTINCT message_key) FROM message_chunks; COMMIT;" |
		tail -n 1
}
[ "$(rows acme crm_api)" = "$n_emails" ] || fail "acme has $(rows acme crm_api) messages, want $n_emails"
[ "$(rows globex crm_api)" = "$n_emails" ] || fail "globex messages"

# SEARCH_EVAL_TRY="SPEC;SPEC..." runs crm-search-eval with those --try
# specs on the dev half (SEARCH_EVAL_SPLIT=all: every half, once a choice is
# made), prints the table and stops here: tuning, docs/search.md
if [ -n "${SEARCH_EVAL_TRY:-}" ]; then
	split="${SEARCH_EVAL_SPLIT:-dev}"
	step "tuning on $split: $SEARCH_EVAL_TRY"
	tries=()
	[ "$split" = all ] || tries+=(--split "$split")
	IFS=';' read -r -a specs <<<"$SEARCH_EVAL_TRY"
	for s in "${specs[@]}"; do tries+=(--try "$s"); done
	"$B/crm-search-eval" -c "$T/crm_api.conf" --tenant acme \
		"${tries[@]}" "$FIX/queries.jsonl" || fail "crm-search-eval --try"
	pass "tuning runs printed (no checks made)"
fi

step "retrieval quality ($(wc -l <"$FIX/queries.jsonl") queries)"
"$B/crm-search-eval" -c "$T/crm_api.conf" --tenant acme --json "$T/eval.json" \
	--misses "$FIX/queries.jsonl" | tee "$T/eval.txt" || fail "crm-search-eval"
"$PY" - "$T/eval.json" "$MIN" "$LOOKUP_MIN" "$TEST_MIN" <<'PYEOF' || fail "hybrid recall@10 below the floor"
import json, sys
s = json.load(open(sys.argv[1])); m, lm, tm = (float(a) for a in sys.argv[2:5])
h = s["hybrid"]["recall"]; hl = s["hybrid"]["by_kind"]["lookup"]["recall"]
ht = s["hybrid"]["by_split"]["test"]["recall"]; hd = s["hybrid"]["by_split"]["dev"]["recall"]
print(f"  hybrid recall@10 {h:.3f} (floor {m}): dev {hd:.3f}, test {ht:.3f} (floor {tm}); "
      f"on lookups {hl:.3f} (floor {lm}); dense {s['dense']['recall']:.3f}, "
      f"full text {s['fts-english-any']['recall']:.3f}, with synonyms {s['fts-synonyms']['recall']:.3f}")
ok = h >= m and hl >= lm and ht >= tm
if s["fts-synonyms"]["recall"] <= s["fts-english-any"]["recall"]:
    print("  full text with synonyms is no better than without"); ok = False
h1 = s["hybrid-1model"]
print(f"  one model: hybrid {h1['recall']:.3f} / MRR {h1['mrr']:.3f}; second model alone "
      f"{s['dense2']['recall']:.3f}")
if (h1["recall"], h1["mrr"]) == (h, s["hybrid"]["mrr"]):
    print("  the second model's list changed nothing"); ok = False
sys.exit(0 if ok else 1)
PYEOF

step "tenant isolation"
for mode in hybrid dense dense2 fts; do
	for q in "buyer complained about pricing" "security questionnaire" "renewal"; do
		for t in acme globex; do
			"$B/crm-search" -c "$T/crm_api.conf" --tenant $t --mode $mode \
				--json -n 50 "$q" >"$T/iso.json" || fail "search $t $mode"
			"$PY" - "$T/iso.json" $t <<'PYEOF' || fail "$t/$mode '$q': other tenant's chunks returned"
import json, sys
r = json.load(open(sys.argv[1])); want = "rs-" if sys.argv[2] == "acme" else "tb-"
keys = [h["message_key"] for g in r["accounts"] for h in g["results"]]
assert keys, "no results at all"
bad = [k for k in keys if not k.startswith(want)]
if bad: print("  leaked:", bad); sys.exit(1)
PYEOF
		done
	done
done
note "hybrid, dense, dense2 and full text: 24 searches, no cross-tenant result"
# SQL as the API role: no tenant set -> nothing; the other tenant's keys
# are invisible; writes across tenants are refused by the policy.
[ "$(psql -X -At -U crm_api -c 'SELECT count(*) FROM message_chunks')" = 0 ] ||
	fail "crm_api sees rows with no tenant set"
[ "$(psql -X -q -At -U crm_api -c "BEGIN; SELECT set_config('crm.tenant_id', 'acme', true);
	SELECT count(*) FROM message_chunks WHERE message_key LIKE 'tb-%' OR tenant_id <> 'acme'; COMMIT;" |
	tail -n 1)" = 0 ] || fail "crm_api with tenant acme sees globex rows"
if psql -X -q -U crm_enrich -v ON_ERROR_STOP=1 -c "BEGIN; SELECT set_config('crm.tenant_id', 'acme', true);
	INSERT INTO message_chunks (tenant_id, message_key, chunk_no, direction, sent_at, body)
	VALUES ('globex', 'forged', 0, 'in', now(), 'x'); COMMIT;" >/dev/null 2>"$T/forge.err"; then
	fail "crm_enrich wrote a globex row while acting for acme"
fi
grep -q "row-level security" "$T/forge.err" || fail "forged insert: $(cat "$T/forge.err")"
if psql -X -q -U crm_enrich -v ON_ERROR_STOP=1 -c "BEGIN; SELECT set_config('crm.tenant_id', 'acme', true);
	UPDATE message_chunks SET tenant_id = 'globex' WHERE message_key = 'rs-m001'; COMMIT;" >/dev/null 2>&1; then
	fail "crm_enrich moved a row to another tenant"
fi
if psql -X -q -U crm_api -v ON_ERROR_STOP=1 -c "BEGIN; SELECT set_config('crm.tenant_id', 'acme', true);
	DELETE FROM message_chunks; COMMIT;" >/dev/null 2>&1; then
	fail "crm_api may delete"
fi
note "SQL: no rows without a tenant, none across tenants, forged writes refused"

step "crm-search CLI"
# Account names, as crm-enrich would have made them, for acme only: the
# globex copies carry the same account ids and must never show acme's names.
"$PY" - "$FIX/emails.jsonl" >"$T/accounts.sql" <<'PYEOF'
import json, sys
names = {}
for l in open(sys.argv[1]):
    m = json.loads(l)
    if m.get("account_id") is not None:
        names[m["account_id"]] = m["account"]
print("INSERT INTO tenants (tenant_id) VALUES ('acme') ON CONFLICT DO NOTHING;")
for i, n in sorted(names.items()):
    print("INSERT INTO accounts (id, tenant_id, name) OVERRIDING SYSTEM VALUE"
          " VALUES (%d, 'acme', '%s');" % (i, n.replace("'", "''")))
PYEOF
pg_psql -f "$T/accounts.sql" >/dev/null || fail "account names"
"$B/crm-search" --help | grep -q -- "--since" || fail "--help"
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --since 30d --now 2026-11-20 \
	"buyer complained about pricing" | tee "$T/cli.txt" | head -n 12
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --since 30d --now 2026-11-20 --json \
	-n 20 "buyer complained about pricing" >"$T/since.json" || fail "--since 30d"
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --account 101 --json \
	-n 20 "contract" >"$T/acct.json" || fail "--account"
"$PY" - "$T/since.json" "$T/acct.json" <<'PYEOF' || fail "filters or grouping wrong"
import json, sys
s = json.load(open(sys.argv[1])); a = json.load(open(sys.argv[2]))
hits = [h for g in s["accounts"] for h in g["results"]]
assert hits and all(h["sent_at"] >= "2026-10-21" for h in hits), "since"
ids = [g["account_id"] for g in s["accounts"]]
assert len(ids) == len(set(ids)), "an account appears twice"
ranks = [min(h["rank"] for h in g["results"]) for g in s["accounts"]]
assert ranks == sorted(ranks), "groups not ordered by best rank"
assert any(h["dense2_rank"] for h in hits) and any(h["dense_rank"] for h in hits), "dense ranks"
assert all(g["account_id"] == 101 for g in a["accounts"]) and a["accounts"], "account filter"
assert all(g["account_name"] == "Northwind Logistics" for g in a["accounts"]), "account name"
assert all((g["account_id"] is None) == (g["account_name"] is None) for g in s["accounts"]), "names"
PYEOF
grep -qx 'Northwind Logistics (account 101, [0-9]*)' "$T/cli.txt" ||
	fail "the text output does not name account 101"
"$B/crm-search" -c "$T/crm_api.conf" --tenant globex --account 101 --json \
	-n 5 "contract" >"$T/acct_globex.json" || fail "--account, globex"
"$PY" - "$T/acct_globex.json" <<'PYEOF' || fail "globex sees acme's account names"
import json, sys
g = json.load(open(sys.argv[1]))["accounts"]
assert g and all(x["account_id"] == 101 and x["account_name"] is None for x in g), g
PYEOF
note "groups carry the account's name; globex's account 101 has none of acme's"
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --now 2026-11-20 --json -n 20 \
	"buyer complained about pricing last month" >"$T/phrase.json" || fail "time phrase"
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --now 2026-11-20 --json --no-dates \
	"buyer complained about pricing last month" >"$T/nodates.json" || fail "--no-dates"
"$PY" - "$T/phrase.json" "$T/since.json" "$T/nodates.json" <<'PYEOF' || fail "'last month' is not --since 30d"
import json, sys
p, s, n = (json.load(open(f)) for f in sys.argv[1:])
assert p["query"] == "buyer complained about pricing" and p["since"] == "2026-10-21T00:00:00Z", p["since"]
assert [h["message_key"] for g in p["accounts"] for h in g["results"]] == \
       [h["message_key"] for g in s["accounts"] for h in g["results"]], "not the same as --since 30d"
assert n["since"] is None and n["query"].endswith("last month")
PYEOF
note "'... last month' = --since 30d; --no-dates keeps the words"
# "pricing" finds the emails that say "quote", "budget" or "expensive"
# through the synonyms, and only the pricing stem without them
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --mode fts --json -n 50 \
	"pricing" >"$T/syn.json" || fail "fts pricing"
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --mode fts --json -n 50 \
	--no-synonyms "pricing" >"$T/nosyn.json" || fail "fts pricing --no-synonyms"
"$PY" - "$T/syn.json" "$T/nosyn.json" <<'PYEOF' || fail "synonyms not applied, or --no-synonyms ignored"
import json, re, sys
hits = [[h for g in json.load(open(f))["accounts"] for h in g["results"]] for f in sys.argv[1:]]
stem = lambda h: re.search(r"\bpric", (h["subject"] + " " + h["text"]).lower())
assert hits[1] and all(stem(h) for h in hits[1]), "--no-synonyms: a hit without 'pric'"
other = [h for h in hits[0] if not stem(h)]
assert len(hits[0]) > len(hits[1]) and other, "synonyms found nothing more"
assert any(re.search(r"\b(quote|budget|expensive|discount|cost)", (h["subject"] + " " + h["text"]).lower())
           for h in other), "the extra hits are not about price"
print(f"  'pricing' full text: {len(hits[1])} hits without synonyms, {len(hits[0])} with")
PYEOF
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --since yesterday x 2>/dev/null &&
	fail "bad --since accepted"
"$B/crm-search" -c "$T/crm_api.conf" --tenant "../etc" x 2>/dev/null &&
	fail "bad tenant accepted"
sed 's/^conninfo = .*/conninfo = host=127.0.0.1 password=hunter2/' "$T/crm_api.conf" >"$T/pw.conf"
"$B/crm-search" -c "$T/pw.conf" --tenant acme x 2>"$T/pw.err" && fail "password in config accepted"
grep -q "pw.conf:[0-9]*: conninfo: no password" "$T/pw.err" || fail "password: $(cat "$T/pw.err")"
grep -q hunter2 "$T/pw.err" && fail "password echoed"
# the second store must be a store of its own, and needs its model
sed "s#^data_dir = $T/vec2#data_dir = $T/vec#" "$T/crm_api.conf" >"$T/same.conf"
"$B/crm-search" -c "$T/same.conf" --tenant acme x 2>"$T/same.err" && fail "[vector2] = [vector] accepted"
grep -q "same.conf: \[vector2\] needs a data_dir of its own" "$T/same.err" || fail "same store: $(cat "$T/same.err")"
sed '/^\[embed2\]/,/^$/d' "$T/crm_api.conf" >"$T/no2.conf"
"$B/crm-search" -c "$T/no2.conf" --tenant acme x 2>"$T/no2.err" && fail "[vector2] without [embed2] accepted"
grep -q "needs \[embed2\]" "$T/no2.err" || fail "no embed2: $(cat "$T/no2.err")"

step "re-ingestion is idempotent"
before="$(psql -X -At -c "SELECT count(*) FROM message_chunks")"
"$B/crm-search-ingest" -c "$T/crm_enrich.conf" --tenant acme "$FIX/emails.jsonl" >/dev/null ||
	fail "second ingest"
after="$(psql -X -At -c "SELECT count(*) FROM message_chunks")"
[ "$before" = "$after" ] || fail "rows $before -> $after after re-ingestion"
"$B/crm-search-eval" -c "$T/crm_api.conf" --tenant acme --json "$T/eval2.json" \
	"$FIX/queries.jsonl" >/dev/null || fail "eval after re-ingest"
"$PY" -c "import json,sys; a=json.load(open('$T/eval.json')); b=json.load(open('$T/eval2.json'));
sys.exit(0 if abs(a['hybrid']['recall']-b['hybrid']['recall'])<1e-9 else 1)" ||
	fail "results changed after re-ingestion (duplicate vectors?)"

step "long messages are chunked; shrinking one drops its old chunks"
"$PY" - "$FIX/emails.jsonl" >"$T/long.jsonl" <<'PYEOF'
import json, sys
bodies = [json.loads(l)["body"] for l in open(sys.argv[1])]
text = "\n\n".join(bodies[:60]) + "\n\nOne more thing: the forklift battery recall affects bay 7 in Reno.\n\n" + "\n\n".join(bodies[60:70])
print(json.dumps({"id": "rs-long", "account_id": 101, "contact": "dana.kim@northwind.example",
                  "direction": "in", "sent_at": "2026-11-01T10:00:00Z", "subject": "Notes", "body": text}))
PYEOF
sed 's/"body": ".*"}$/"body": "Short now."}/' "$T/long.jsonl" >"$T/short.jsonl"
"$B/crm-search-ingest" -c "$T/crm_enrich.conf" --tenant acme "$T/long.jsonl" || fail "ingest long"
n_long="$(psql -X -At -c "SELECT count(*) FROM message_chunks WHERE message_key = 'rs-long'")"
[ "$n_long" -ge 4 ] || fail "a 70-email body gave $n_long chunks"
for mode in fts dense dense2; do
	"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --mode $mode --json -n 3 \
		"forklift battery recall in Reno" >"$T/long-$mode.json" || fail "search long $mode"
done
"$PY" - "$T/long-fts.json" "$T/long-dense.json" "$T/long-dense2.json" <<'PYEOF' || fail "the chunk holding the sentence is not found first"
import json, sys
for f in sys.argv[1:]:
    top = json.load(open(f))["accounts"][0]["results"][0]
    assert top["message_key"] == "rs-long" and top["chunk_no"] > 0, (f, top["message_key"], top["chunk_no"])
    assert "forklift battery recall" in top["text"], f
PYEOF
note "rs-long: $n_long chunks; full text and both dense models rank the right chunk first"
"$B/crm-search-ingest" -c "$T/crm_enrich.conf" --tenant acme "$T/short.jsonl" >/dev/null || fail "ingest short"
[ "$(psql -X -At -c "SELECT count(*) FROM message_chunks WHERE message_key = 'rs-long'")" = 1 ] ||
	fail "old chunks of rs-long kept in SQL"
for mode in dense dense2; do
"$B/crm-search" -c "$T/crm_api.conf" --tenant acme --mode $mode --json -n 50 \
	"forklift battery recall in Reno" >"$T/stale.json" || fail "search stale"
"$PY" - "$T/stale.json" <<'PYEOF' || fail "a stale vector without its row was returned ($mode)"
import json, sys
r = json.load(open(sys.argv[1]))
assert all(not (h["message_key"] == "rs-long" and h["chunk_no"] > 0)
           for g in r["accounts"] for h in g["results"])
PYEOF
done
printf '{"id": "x", "direction": "sideways", "sent_at": "2026-01-01"}\n' >"$T/bad.jsonl"
"$B/crm-search-ingest" -c "$T/crm_enrich.conf" --tenant acme "$T/bad.jsonl" 2>"$T/bad.err" &&
	fail "a bad direction was accepted"
grep -q "direction" "$T/bad.err" || fail "bad input: $(cat "$T/bad.err")"

pg_stop "$T/pg"
pass "hybrid recall@10 $("$PY" -c "import json; print(round(json.load(open('$T/eval.json'))['hybrid']['recall'],3))")"
