/*
 * crm-migrate.c - applies the project's forward-only SQL migrations.
 *
 * Migrations are files NNNN_name.sql in one directory, applied in numeric
 * order, each in its own transaction together with its row in
 * schema_migrations (version, name, SHA-256 of the file).  So a migration
 * is either wholly applied and recorded, or not at all.
 *
 * Refused, before anything is changed:
 *   - an applied migration whose file changed (SHA-256 differs): history
 *     is immutable, write a new migration instead;
 *   - an applied version with no file, a duplicate version, or a new file
 *     numbered below the newest applied one: the directory does not
 *     describe the database.  Gaps in the numbering are allowed (ranges
 *     are reserved per part of the project), but a file that arrives
 *     below the newest applied version is refused, not applied out of
 *     order: rename it after the newest;
 *   - a migration that ends the transaction itself (COMMIT/ROLLBACK).
 *
 * Roles: crm_owner (owns every object, runs the migrations), crm_enrich
 * and crm_api (non-owner, NOBYPASSRLS) are created when absent if the
 * connecting role may create roles; as a superuser the session then runs
 * the migrations under SET ROLE crm_owner so the owner is always the same.
 * No password is ever set or stored here: authentication is the
 * operator's choice (peer, certificates, or a 0600 ~/.pgpass).
 *
 * A session-level advisory lock serialises concurrent runs.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "lib/hex.h"
#include "lib/xmalloc.h"

#ifndef CRM_SQL_DIR
#define CRM_SQL_DIR "/usr/local/share/crm-proxy/sql"
#endif
#define MIGRATION_MAX_BYTES (16 * 1024 * 1024)
#define MIGRATIONS_MAX 9999
#define LOCK_KEY "7406231099"	/* arbitrary, fixed: "crm-migrate" */

struct migration {
	int version;
	char *name;		/* file name */
	char *path;
	char *sql;		/* NUL-terminated contents */
	size_t len;
	char sha[65];
	bool applied;
	char *applied_sha;
	char *applied_at;
};

struct migrate_state {
	PGconn *conn;
	const char *dir;
	bool dry_run;
	bool status;
	bool no_roles;
	struct migration *m;
	size_t n;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-migrate [-d CONNINFO] [-s DIR] [--dry-run | --status] "
	    "[--no-roles]\n"
	    "\n"
	    "Applies pending SQL migrations (NNNN_name.sql, numeric order), each in\n"
	    "one transaction, recording version and SHA-256 in schema_migrations.\n"
	    "\n"
	    "  -d, --database CONNINFO  libpq connection string or URI (default:\n"
	    "                           $DATABASE_URL, else libpq's PG* variables)\n"
	    "  -s, --sql-dir DIR        migration directory (default %s)\n"
	    "  -n, --dry-run            check and list what would be applied; "
	    "change nothing\n"
	    "      --status             list every migration: applied, pending, "
	    "edited, missing\n"
	    "      --no-roles           do not create crm_owner, crm_enrich, "
	    "crm_api\n"
	    "  -h, --help               this text\n"
	    "\n"
	    "Exit status: 0 done (or nothing to do), 1 refused or failed, 2 usage.\n"
	    "Passwords are never taken on the command line: use ~/.pgpass (0600),\n"
	    "PGPASSFILE, peer or certificate authentication.\n",
	    CRM_SQL_DIR);
}

static void
err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
err(const char *fmt, ...)
{
	va_list ap;

	fputs("crm-migrate: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
sha256_hex(const void *p, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	if (EVP_Digest(p, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32) {
		fprintf(stderr, "crm-migrate: SHA-256 failed\n");
		exit(1);
	}
	hex_encode(md, 32, out);
}

/* "0012_add_x.sql" -> 12; -1 when the name is not a migration. */
static int
migration_version(const char *name)
{
	size_t len = strlen(name);
	int v = 0;

	if (len < 10 || strcmp(name + len - 4, ".sql") != 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		if (!isdigit((unsigned char)name[i]))
			return -1;
		v = v * 10 + (name[i] - '0');
	}
	if (name[4] != '_')
		return -1;
	for (size_t i = 5; i < len - 4; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!islower(c) && !isdigit(c) && c != '_')
			return -1;
	}
	return v;
}

static int
migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;

	return (x->version > y->version) - (x->version < y->version);
}

static int
read_file(const char *path, char **buf_r, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf;

	if (f == NULL) {
		err("%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > MIGRATION_MAX_BYTES) {
		err("%s: not a regular file of at most %d bytes", path,
		    MIGRATION_MAX_BYTES);
		fclose(f);
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		err("%s: short read", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[st.st_size] = '\0';
	if (strlen(buf) != (size_t)st.st_size) {
		err("%s: contains a NUL byte", path);
		free(buf);
		return -1;
	}
	*buf_r = buf;
	*len_r = (size_t)st.st_size;
	return 0;
}

static int
scan_dir(struct migrate_state *s)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	size_t cap = 0;

	if (d == NULL) {
		err("%s: %s", s->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		struct migration *m;
		int v;

		if (de->d_name[0] == '.')
			continue;
		v = migration_version(de->d_name);
		if (v < 0) {
			size_t l = strlen(de->d_name);
			if (l >= 4 && strcmp(de->d_name + l - 4, ".sql") == 0) {
				err("%s/%s: not a migration name (NNNN_name.sql, "
				    "lower case, digits, _)", s->dir, de->d_name);
				closedir(d);
				return -1;
			}
			continue;
		}
		if (v == 0) {
			err("%s/%s: versions start at 0001", s->dir, de->d_name);
			closedir(d);
			return -1;
		}
		if (s->n == cap) {
			cap = cap ? cap * 2 : 16;
			s->m = xreallocarray(s->m, cap, sizeof(*s->m));
		}
		m = &s->m[s->n++];
		memset(m, 0, sizeof(*m));
		m->version = v;
		m->name = xstrdup(de->d_name);
		m->path = xasprintf("%s/%s", s->dir, de->d_name);
		if (read_file(m->path, &m->sql, &m->len) != 0) {
			closedir(d);
			return -1;
		}
		sha256_hex(m->sql, m->len, m->sha);
	}
	closedir(d);
	qsort(s->m, s->n, sizeof(*s->m), migration_cmp);
	for (size_t i = 1; i < s->n; i++) {
		if (s->m[i].version == s->m[i - 1].version) {
			err("duplicate version %04d: %s and %s", s->m[i].version,
			    s->m[i - 1].name, s->m[i].name);
			return -1;
		}
	}
	return 0;
}

static PGresult *
exec_ok(PGconn *c, const char *sql, int nparams, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL,
	    0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		err("%s", PQresultErrorMessage(r));
		PQclear(r);
		return NULL;
	}
	return r;
}

static int
exec_cmd(PGconn *c, const char *sql)
{
	PGresult *r = exec_ok(c, sql, 0, NULL);

	if (r == NULL)
		return -1;
	PQclear(r);
	return 0;
}

static bool
query_bool(PGconn *c, const char *sql, const char *param)
{
	const char *p[1] = { param };
	PGresult *r = exec_ok(c, sql, param ? 1 : 0, p);
	bool v;

	if (r == NULL)
		exit(1);
	v = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return v;
}

static const char *const roles[][2] = {
	/* crm_owner owns the tables but FORCE ROW LEVEL SECURITY filters
	 * it as well; NOBYPASSRLS everywhere keeps it that way. */
	{ "crm_owner", "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS" },
	{ "crm_enrich", "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS" },
	{ "crm_api", "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS" },
};

static int
ensure_roles(struct migrate_state *s)
{
	bool superuser = query_bool(s->conn,
	    "SELECT rolsuper FROM pg_roles WHERE rolname = current_user", NULL);
	bool createrole = superuser || query_bool(s->conn,
	    "SELECT rolcreaterole FROM pg_roles WHERE rolname = current_user",
	    NULL);

	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		char *sql;

		if (query_bool(s->conn, "SELECT true FROM pg_roles "
		    "WHERE rolname = $1", roles[i][0]))
			continue;
		if (s->no_roles || !createrole) {
			err("role %s does not exist and %s; create it (see "
			    "docs/schema.md) or run as a role with CREATEROLE",
			    roles[i][0], s->no_roles ? "--no-roles was given" :
			    "this role may not create roles");
			return -1;
		}
		if (s->dry_run) {
			printf("would create role %s\n", roles[i][0]);
			continue;
		}
		sql = xasprintf("CREATE ROLE %s %s", roles[i][0], roles[i][1]);
		if (exec_cmd(s->conn, sql) != 0) {
			free(sql);
			return -1;
		}
		free(sql);
		printf("created role %s\n", roles[i][0]);
	}
	if (superuser && !s->dry_run) {
		/* PostgreSQL 15 no longer lets everyone create in public. */
		if (exec_cmd(s->conn, "GRANT USAGE, CREATE ON SCHEMA public "
		    "TO crm_owner") != 0 ||
		    exec_cmd(s->conn, "GRANT USAGE ON SCHEMA public TO "
		    "crm_enrich, crm_api") != 0)
			return -1;
		/* Trusted extensions (pg_trgm) need CREATE on the database. */
		{
			char *db = PQescapeIdentifier(s->conn, PQdb(s->conn),
			    strlen(PQdb(s->conn)));
			char *sql = xasprintf("GRANT CREATE ON DATABASE %s TO "
			    "crm_owner", db ? db : "\"\"");
			int rc = exec_cmd(s->conn, sql);
			PQfreemem(db);
			free(sql);
			if (rc != 0)
				return -1;
		}
	}
	return 0;
}

static int
become_owner(struct migrate_state *s)
{
	if (query_bool(s->conn, "SELECT current_user = 'crm_owner'", NULL))
		return 0;
	if (!query_bool(s->conn, "SELECT true FROM pg_roles WHERE rolname = "
	    "'crm_owner'", NULL)) {
		if (s->dry_run)
			return 0;
		err("role crm_owner does not exist");
		return -1;
	}
	if (!query_bool(s->conn, "SELECT pg_has_role(current_user, "
	    "'crm_owner', 'MEMBER')", NULL)) {
		err("connected as a role that is neither crm_owner nor a "
		    "member of it; connect as crm_owner or a superuser");
		return -1;
	}
	return exec_cmd(s->conn, "SET ROLE crm_owner");
}

static int
load_applied(struct migrate_state *s, bool *table_exists_r)
{
	PGresult *r;
	int rc = 0;

	*table_exists_r = query_bool(s->conn,
	    "SELECT to_regclass('public.schema_migrations') IS NOT NULL", NULL);
	if (!*table_exists_r)
		return 0;
	r = exec_ok(s->conn, "SELECT version, name, sha256, "
	    "to_char(applied_at, 'YYYY-MM-DD HH24:MI:SS TZ') "
	    "FROM schema_migrations ORDER BY version", 0, NULL);
	if (r == NULL)
		return -1;
	for (int i = 0; i < PQntuples(r); i++) {
		int v = (int)strtol(PQgetvalue(r, i, 0), NULL, 10);
		struct migration *m = NULL;

		for (size_t j = 0; j < s->n; j++)
			if (s->m[j].version == v)
				m = &s->m[j];
		if (m == NULL) {
			err("version %04d (%s) is applied but its file is missing "
			    "from %s", v, PQgetvalue(r, i, 1), s->dir);
			rc = -1;
			continue;
		}
		m->applied = true;
		m->applied_sha = xstrdup(PQgetvalue(r, i, 2));
		m->applied_at = xstrdup(PQgetvalue(r, i, 3));
	}
	PQclear(r);
	return rc;
}

/* Every refusal is found before the first change. */
static int
check_history(struct migrate_state *s)
{
	int rc = 0, max_applied = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct migration *m = &s->m[i];

		if (m->applied) {
			max_applied = m->version;
			if (strcmp(m->applied_sha, m->sha) != 0) {
				err("%s was edited after it was applied "
				    "(applied sha256 %s, file %s); migrations "
				    "are forward-only: restore it and add a "
				    "new one", m->name, m->applied_sha, m->sha);
				rc = -1;
			}
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		if (!s->m[i].applied && s->m[i].version < max_applied) {
			err("%s is not applied but %04d is; a new migration "
			    "must be numbered after the newest applied one",
			    s->m[i].name, max_applied);
			rc = -1;
		}
	}
	return rc;
}

/* Translates a 1-based character position into a line of the file. */
static int
position_line(const char *sql, const char *pos)
{
	long chars = pos ? strtol(pos, NULL, 10) : 0;
	int line = 1;

	for (const unsigned char *p = (const unsigned char *)sql;
	    *p != '\0' && chars > 1; p++) {
		if ((*p & 0xc0) != 0x80)
			chars--;
		if (*p == '\n')
			line++;
	}
	return line;
}

static const char *const txn_words[] = {
	"begin", "start", "commit", "end", "rollback", "abort", "savepoint",
	"release", "prepare", NULL,
};

/*
 * Finds a top-level transaction-control statement (COMMIT, ROLLBACK, ...)
 * so it is refused before anything runs: once executed it would commit
 * half a migration.  A small lexer: statements end at ';' outside
 * '...', "...", $tag$...$tag$, -- and nested block comments.  Returns the
 * line of the offending statement, or 0.
 */
static int
find_txn_control(const char *sql)
{
	const char *p = sql, *stmt = NULL;
	int line = 1, stmt_line = 1, depth;

	while (*p != '\0') {
		if (*p == '\n') {
			line++;
			p++;
			continue;
		}
		if (p[0] == '-' && p[1] == '-') {
			while (*p != '\0' && *p != '\n')
				p++;
			continue;
		}
		if (p[0] == '/' && p[1] == '*') {
			for (depth = 1, p += 2; *p != '\0' && depth > 0; p++) {
				if (*p == '\n')
					line++;
				else if (p[0] == '/' && p[1] == '*')
					depth++, p++;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p++;
			}
			continue;
		}
		if (*p == ';') {
			stmt = NULL;
			p++;
			continue;
		}
		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		if (stmt == NULL) {
			size_t n = 0;

			stmt = p;
			stmt_line = line;
			while (isalpha((unsigned char)p[n]))
				n++;
			for (int i = 0; txn_words[i] != NULL; i++)
				if (n == strlen(txn_words[i]) &&
				    strncasecmp(p, txn_words[i], n) == 0)
					return stmt_line;
		}
		if (*p == '\'' || *p == '"') {
			char q = *p++;
			while (*p != '\0' && *p != q) {
				if (*p == '\n')
					line++;
				p++;
			}
			if (*p != '\0')
				p++;
			continue;
		}
		if (*p == '$') {
			const char *t = p + 1;
			while (isalnum((unsigned char)*t) || *t == '_')
				t++;
			if (*t == '$' && !(t > p + 1 &&
			    isdigit((unsigned char)p[1]))) {
				size_t tl = (size_t)(t - p + 1);
				const char *e = p + tl;
				while (*e != '\0' && strncmp(e, p, tl) != 0) {
					if (*e == '\n')
						line++;
					e++;
				}
				p = *e != '\0' ? e + tl : e;
				continue;
			}
		}
		p++;
	}
	return 0;
}

static int
apply_one(struct migrate_state *s, struct migration *m)
{
	char vbuf[16];
	const char *params[3] = { vbuf, m->name, m->sha };
	PGresult *r;
	int line;

	snprintf(vbuf, sizeof(vbuf), "%d", m->version);
	if ((line = find_txn_control(m->sql)) != 0) {
		fprintf(stderr, "crm-migrate: error: %s:%d: transaction "
		    "control (BEGIN/COMMIT/ROLLBACK/SAVEPOINT) is not allowed "
		    "in a migration; crm-migrate runs each file in its own "
		    "transaction\n", m->path, line);
		return -1;
	}
	if (exec_cmd(s->conn, "BEGIN") != 0)
		return -1;
	r = PQexec(s->conn, m->sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQresultStatus(r) != PGRES_EMPTY_QUERY) {
		const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);

		fprintf(stderr, "crm-migrate: error: %s:%d: %s", m->path,
		    position_line(m->sql, pos), PQresultErrorMessage(r));
		PQclear(r);
		PQclear(PQexec(s->conn, "ROLLBACK"));
		return -1;
	}
	PQclear(r);
	if (PQtransactionStatus(s->conn) != PQTRANS_INTRANS) {
		err("%s ended the transaction itself (COMMIT/ROLLBACK in a "
		    "migration is not allowed); its effects may be partly "
		    "applied and it is NOT recorded", m->path);
		return -1;
	}
	r = exec_ok(s->conn, "INSERT INTO schema_migrations (version, name, "
	    "sha256) VALUES ($1, $2, $3)", 3, params);
	if (r == NULL) {
		PQclear(PQexec(s->conn, "ROLLBACK"));
		return -1;
	}
	PQclear(r);
	if (exec_cmd(s->conn, "COMMIT") != 0)
		return -1;
	printf("applied %s (sha256 %.12s)\n", m->name, m->sha);
	return 0;
}

static int
create_history_table(struct migrate_state *s)
{
	PGresult *r;
	int rc;

	/* Not tenant data, so no tenant_id and no RLS; the daemons'
	 * roles get no access to it at all.  Several statements: simple
	 * query protocol. */
	r = PQexec(s->conn,
	    "CREATE TABLE IF NOT EXISTS schema_migrations ("
	    " version integer PRIMARY KEY CHECK (version > 0),"
	    " name text NOT NULL,"
	    " sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),"
	    " applied_at timestamptz NOT NULL DEFAULT now(),"
	    " applied_by text NOT NULL DEFAULT session_user);"
	    "REVOKE ALL ON schema_migrations FROM PUBLIC;"
	    "DO $$ BEGIN"
	    " IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_enrich') THEN"
	    "  REVOKE ALL ON schema_migrations FROM crm_enrich; END IF;"
	    " IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_api') THEN"
	    "  REVOKE ALL ON schema_migrations FROM crm_api; END IF;"
	    "END $$");
	rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc != 0)
		err("%s", PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "database", required_argument, NULL, 'd' },
		{ "sql-dir", required_argument, NULL, 's' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "status", no_argument, NULL, 'S' },
		{ "no-roles", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct migrate_state s = { .dir = CRM_SQL_DIR };
	const char *conninfo = getenv("DATABASE_URL");
	bool table_exists;
	size_t pending = 0;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "d:s:nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': conninfo = optarg; break;
		case 's': s.dir = optarg; break;
		case 'n': s.dry_run = true; break;
		case 'S': s.status = true; break;
		case 'R': s.no_roles = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || (s.dry_run && s.status)) {
		usage(stderr);
		return 2;
	}
	if (s.status)
		s.dry_run = true;
	if (scan_dir(&s) != 0)
		return 1;
	s.conn = PQconnectdb(conninfo ? conninfo : "");
	if (PQstatus(s.conn) != CONNECTION_OK) {
		/* libpq's message names host and user, never the password. */
		err("cannot connect: %s", PQerrorMessage(s.conn));
		goto out;
	}
	PQclear(PQexec(s.conn, "SET client_min_messages = warning"));
	if (exec_cmd(s.conn, "SELECT pg_advisory_lock(" LOCK_KEY ")") != 0)
		goto out;
	if (!s.status && ensure_roles(&s) != 0)
		goto out;
	if (become_owner(&s) != 0)
		goto out;
	if (load_applied(&s, &table_exists) != 0 && !s.status)
		goto out;
	if (s.status) {
		for (size_t i = 0; i < s.n; i++) {
			struct migration *m = &s.m[i];
			const char *st = !m->applied ? "pending" :
			    strcmp(m->applied_sha, m->sha) != 0 ? "EDITED" :
			    "applied";
			printf("%04d  %-8s %s%s%s\n", m->version, st, m->name,
			    m->applied ? "  " : "",
			    m->applied ? m->applied_at : "");
		}
		rc = check_history(&s) == 0 ? 0 : 1;
		goto out;
	}
	if (check_history(&s) != 0)
		goto out;
	for (size_t i = 0; i < s.n; i++)
		pending += !s.m[i].applied;
	if (pending == 0) {
		printf("up to date: %zu migrations applied\n", s.n);
		rc = 0;
		goto out;
	}
	if (s.dry_run) {
		for (size_t i = 0; i < s.n; i++)
			if (!s.m[i].applied)
				printf("would apply %s (sha256 %.12s)\n",
				    s.m[i].name, s.m[i].sha);
		rc = 0;
		goto out;
	}
	if (!table_exists && create_history_table(&s) != 0)
		goto out;
	for (size_t i = 0; i < s.n; i++) {
		if (s.m[i].applied)
			continue;
		if (apply_one(&s, &s.m[i]) != 0)
			goto out;
	}
	printf("done: %zu applied, %zu migrations in total\n", pending, s.n);
	rc = 0;
out:
	PQfinish(s.conn);
	for (size_t i = 0; i < s.n; i++) {
		free(s.m[i].name);
		free(s.m[i].path);
		free(s.m[i].sql);
		free(s.m[i].applied_sha);
		free(s.m[i].applied_at);
	}
	free(s.m);
	return rc;
}
