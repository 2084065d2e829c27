# tests/lib/sql_apply.sh - apply enrich/sql/NNNN_*.sql with psql, in numeric
# order, each file in one transaction.  Source it after postgres.sh.
#
#   sql_apply_migrations_psql [DIR]     (default $ROOT/enrich/sql)
#
# A stand-in for the project's migration tool (crm-migrate) until it is on
# this branch: no version table, so run it once on a fresh database.  The
# scenarios call only this function, so switching to the tool is one line.
sql_apply_migrations_psql() {
	local dir="${1:-$ROOT/enrich/sql}" f
	for f in $(ls "$dir"/[0-9][0-9][0-9][0-9]_*.sql | sort); do
		psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f "$f" \
		    >/dev/null || { echo "sql_apply: $f failed" >&2; return 1; }
	done
}
