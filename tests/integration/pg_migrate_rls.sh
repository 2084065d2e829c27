#!/usr/bin/env bash
# pg_migrate_rls.sh - crm-migrate and row-level security on PostgreSQL 15.
#
#   crm-migrate: applies every migration from an empty database and creates
#   the roles; a second run changes nothing; --dry-run and --status change
#   nothing; an edited applied file, a deleted applied file, a file below
#   the newest applied version and a migration that COMMITs are refused; a
#   failing migration leaves nothing behind and names file:line.
#
#   RLS: every table but schema_migrations has tenant_id, RLS enabled and
#   forced, a tenant policy; crm_enrich with tenant A set sees none of B's
#   rows in any table, with no tenant set sees nothing, cannot write a row
#   for another tenant, cannot disable or bypass RLS, cannot read
#   schema_migrations; crm_owner (FORCE) is filtered too; no role can
#   bypass RLS.
. "$(dirname "$0")/../lib/common.sh"
scenario_init pg_migrate_rls 1
. "$TLIB/postgres.sh"
MIGRATE="$B/crm-migrate"
[ -x "$MIGRATE" ] || fail "build first: make $MIGRATE"
[ -x "${PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ] ||
	skip "postgresql-15 missing (packaging/deps.sh test)"
need_cmd psql
alloc_port pgport
pg_start "$T/pg" "$pgport" crm
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
as() { # ROLE SQL: one session as ROLE (trust on loopback)
	local role="$1"; shift
	psql -X -q -A -t -v ON_ERROR_STOP=1 -U "$role" "$@"
}
as_tenant() { # ROLE TENANT SQL: one transaction with crm.tenant_id set
	printf "BEGIN;\nSELECT set_config('crm.tenant_id', '%s', true) \\g /dev/null\n%s\nCOMMIT;\n" \
	    "$2" "$3" | as "$1" -f -
}
cp -r "$ROOT/enrich/sql" "$T/sql"
nfiles="$(ls "$T/sql"/*.sql | wc -l)"

step "from empty"
"$MIGRATE" -s "$T/sql" --dry-run >"$T/dry.out" || fail "dry-run on empty"
grep -q "would create role crm_enrich" "$T/dry.out" || fail "dry-run: roles"
[ "$(grep -c '^would apply' "$T/dry.out")" = "$nfiles" ] || fail "dry-run: files"
[ "$(sql -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'crm\_%'")" = 0 ] ||
	fail "dry-run created roles"
"$MIGRATE" -s "$T/sql" >"$T/m1.out" || { cat "$T/m1.out"; fail "migrate"; }
cat "$T/m1.out"
[ "$(sql -c "SELECT count(*) FROM schema_migrations")" = "$nfiles" ] ||
	fail "not every migration recorded"
[ "$(sql -c "SELECT count(*) FROM schema_migrations s WHERE length(sha256) = 64")" = "$nfiles" ] ||
	fail "sha256 not recorded"
"$MIGRATE" -s "$T/sql" >"$T/m2.out" || fail "second run"
grep -q "up to date" "$T/m2.out" || fail "second run was not a no-op"
"$MIGRATE" -s "$T/sql" --status >"$T/status.out" || fail "--status"
[ "$(grep -c ' applied ' "$T/status.out")" = "$nfiles" ] || fail "--status output"
[ "$(sql -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tableowner <> 'crm_owner'")" = 0 ] ||
	fail "a table not owned by crm_owner"

step "refusals"
printf 'CREATE TABLE t_added (tenant_id text NOT NULL);\nSELECT crm_enable_rls(%s);\n' "'t_added'" >"$T/sql/0050_added.sql"
"$MIGRATE" -s "$T/sql" --dry-run | grep -q "would apply 0050_added.sql" || fail "dry-run: new file"
[ "$(sql -c "SELECT to_regclass('t_added') IS NULL")" = t ] || fail "dry-run applied"
"$MIGRATE" -s "$T/sql" >/dev/null || fail "applying 0050"
echo "-- edited" >>"$T/sql/0002_messages.sql"
if "$MIGRATE" -s "$T/sql" 2>"$T/err"; then fail "an edited file was accepted"; fi
grep -q "0002_messages.sql was edited" "$T/err" || { cat "$T/err"; fail "edited: message"; }
"$MIGRATE" -s "$T/sql" --status >/dev/null 2>&1 && fail "--status exit 0 with an edited file"
cp "$ROOT/enrich/sql/0002_messages.sql" "$T/sql/"
mv "$T/sql/0050_added.sql" "$T/0050_added.sql"
if "$MIGRATE" -s "$T/sql" 2>"$T/err"; then fail "a missing applied file was accepted"; fi
grep -q "0050.*applied but its file is missing" "$T/err" || { cat "$T/err"; fail "missing: message"; }
mv "$T/0050_added.sql" "$T/sql/"
echo "CREATE TABLE t_late (x int);" >"$T/sql/0040_late.sql"
if "$MIGRATE" -s "$T/sql" 2>"$T/err"; then fail "out-of-order file was accepted"; fi
grep -q "0040_late.sql is not applied but 0050 is" "$T/err" || { cat "$T/err"; fail "order: message"; }
[ "$(sql -c "SELECT to_regclass('t_late') IS NULL")" = t ] || fail "out-of-order applied"
rm "$T/sql/0040_late.sql"
printf 'CREATE TABLE t_half (x int);\n\nSELECT nosuchfunction();\n' >"$T/sql/0060_broken.sql"
if "$MIGRATE" -s "$T/sql" 2>"$T/err"; then fail "a failing migration succeeded"; fi
grep -q "0060_broken.sql:3:" "$T/err" || { cat "$T/err"; fail "no file:line"; }
[ "$(sql -c "SELECT to_regclass('t_half') IS NULL")" = t ] || fail "failed migration left a table"
[ "$(sql -c "SELECT count(*) FROM schema_migrations WHERE version = 60")" = 0 ] || fail "failed migration recorded"
printf -- '-- COMMIT; in a comment\nCREATE TABLE t_commit (x text DEFAULT $q$;COMMIT;$q$);\n/* ; */ commit;\n' >"$T/sql/0060_broken.sql"
if "$MIGRATE" -s "$T/sql" 2>"$T/err"; then fail "a COMMIT in a migration was accepted"; fi
grep -q "0060_broken.sql:3: transaction control" "$T/err" || { cat "$T/err"; fail "commit: message"; }
[ "$(sql -c "SELECT to_regclass('t_commit') IS NULL")" = t ] || fail "COMMIT migration ran"
rm "$T/sql/0060_broken.sql"
echo "bogus" >"$T/sql/12_bad.sql"
if "$MIGRATE" -s "$T/sql" 2>"$T/err"; then fail "a badly named file was accepted"; fi
rm "$T/sql/12_bad.sql"
"$MIGRATE" --help | grep -q -- "--dry-run" || fail "--help"

step "every table: tenant_id, RLS enabled + forced, one policy"
bad="$(sql -c "SELECT string_agg(c.relname, ' ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations' AND (
	NOT c.relrowsecurity OR NOT c.relforcerowsecurity OR
	NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) OR
	NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND a.attnotnull))")"
[ -z "$bad" ] || fail "tables without tenant_id/RLS: $bad"
[ "$(sql -c "SELECT count(*) FROM pg_roles WHERE rolname IN ('crm_owner', 'crm_enrich', 'crm_api') AND NOT rolbypassrls AND NOT rolsuper")" = 3 ] ||
	fail "a crm role can bypass RLS"

step "two tenants' data, written as crm_enrich"
for t in acme globex; do
	as crm_enrich <<SQL || fail "insert as crm_enrich ($t)"
BEGIN;
SELECT set_config('crm.tenant_id', '$t', true) \g /dev/null
INSERT INTO tenants (tenant_id) VALUES ('$t');
INSERT INTO tenant_domains VALUES ('$t', '$t.example');
SELECT crm_contact_for_address('$t', 'carol@initech.com', 'initech.com', 'Carol', now(), false,
    crm_account_for_domain('$t', 'initech.com')) \g /dev/null
INSERT INTO threads (tenant_id, subject) VALUES ('$t', 'hello');
INSERT INTO messages (tenant_id, idempotency_key, direction, mailbox_owner, size_bytes,
    kafka_topic, kafka_partition, kafka_offset, kafka_key, kafka_headers, thread_id)
    SELECT '$t', 'k1', 'in', 'a@$t.example', 10, 'crm.mail.v1', 0, 1, '$t/a', '{}', id FROM threads;
INSERT INTO participants (tenant_id, message_id, role, address, position)
    SELECT '$t', id, 'from', 'carol@initech.com', 0 FROM messages;
INSERT INTO message_refs (tenant_id, ref, message_id)
    SELECT '$t', 'parent@$t.example', id FROM messages;
INSERT INTO attachments (tenant_id, message_id, position, content_type, size_bytes, sha256)
    SELECT '$t', id, 0, 'text/plain', 1, repeat('a', 64) FROM messages;
INSERT INTO meetings (tenant_id, uid, mailbox_owner, kafka_topic, kafka_partition, kafka_offset,
    kafka_key, kafka_headers) VALUES ('$t', 'u1', 'a@$t.example', 'crm.calendar.v1', 0, 1, '$t/a', '{}');
INSERT INTO attendees (tenant_id, meeting_id, address) SELECT '$t', id, 'carol@initech.com' FROM meetings;
INSERT INTO purge_audit (tenant_id, actor, target_kind, target_sha256, counts)
    VALUES ('$t', 'test', 'address', repeat('0', 64), '{}');
COMMIT;
SQL
done
tables="$(sql -c "SELECT string_agg(relname, ' ' ORDER BY relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND relname <> 'schema_migrations'")"
for tb in $tables; do
	if [ "$(sql -c "SELECT count(*) FROM $tb WHERE tenant_id = 'globex'")" = 0 ]; then
		# Tables from later migrations (0010+) get the generic RLS
		# check above; add rows for them here to cover them fully.
		case "$tb" in t_added) ;; *) note "no rows in $tb: only its RLS flags were checked";; esac
		continue
	fi
	for role in crm_enrich crm_api crm_owner; do
		got="$(as_tenant "$role" acme "SELECT count(*) FILTER (WHERE tenant_id <> 'acme') || '/' || count(*) FROM $tb;")"
		want="0/$(sql -c "SELECT count(*) FROM $tb WHERE tenant_id = 'acme'")"
		[ "$got" = "$want" ] || fail "$role with tenant acme on $tb: $got, expected $want"
		got="$(as "$role" -c "SELECT count(*) FROM $tb")"
		[ "$got" = 0 ] || fail "$role with no tenant sees $got rows of $tb"
	done
done
note "tables checked: $tables"

step "crm_enrich cannot escape"
try_fail() { # DESCRIPTION SQL
	if as crm_enrich -c "$2" >"$T/try.out" 2>&1; then
		fail "crm_enrich could: $1"
	fi
}
try_fail "disable RLS" "ALTER TABLE messages DISABLE ROW LEVEL SECURITY"
try_fail "unforce RLS" "ALTER TABLE messages NO FORCE ROW LEVEL SECURITY"
try_fail "drop the policy" "DROP POLICY tenant_isolation ON messages"
try_fail "add a policy" "CREATE POLICY open ON messages USING (true)"
try_fail "read with row_security off" "SET row_security = off; SELECT count(*) FROM messages"
try_fail "write for another tenant" "BEGIN; SELECT set_config('crm.tenant_id', 'acme', true); INSERT INTO tenant_domains VALUES ('globex', 'evil.example'); COMMIT"
try_fail "move a row to another tenant" "BEGIN; SELECT set_config('crm.tenant_id', 'acme', true); UPDATE threads SET tenant_id = 'globex'; COMMIT"
try_fail "read schema_migrations" "SELECT count(*) FROM schema_migrations"
try_fail "grant itself bypassrls" "ALTER ROLE crm_enrich BYPASSRLS"
try_fail "drop a table" "DROP TABLE participants"
if as crm_api -c "BEGIN; SELECT set_config('crm.tenant_id', 'acme', true); INSERT INTO tenant_domains VALUES ('acme', 'x.example'); COMMIT" >/dev/null 2>&1; then
	fail "crm_api could write"
fi
got="$(as_tenant crm_enrich acme "DELETE FROM tenant_domains;" && sql -c "SELECT count(*) FROM tenant_domains WHERE tenant_id = 'globex'")"
[ "$got" = 1 ] || fail "a DELETE as acme removed globex rows"
# the setting is transaction-local: the next transaction has no tenant
got="$(printf "BEGIN;\nSELECT set_config('crm.tenant_id', 'globex', true) \\g /dev/null\nCOMMIT;\nSELECT count(*) FROM messages;\n" | as crm_enrich -f -)"
[ "$got" = 0 ] || fail "the tenant setting outlived its transaction"
pass "$nfiles migrations, $(echo $tables | wc -w) tables isolated for 3 roles"
