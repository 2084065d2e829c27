/*
 * crm-admin.c - operator commands against the CRM database.
 *
 *   crm-admin purge --tenant T (--address A | --domain D) [--dry-run]
 *   crm-admin account-domain --tenant T --domain D --into E [--dry-run]
 *   crm-admin token create|revoke --tenant T --name N
 *   crm-admin token list --tenant T
 *
 * token create makes a bearer token for crm-api (docs/api.md): printed
 * once on standard output, stored only as its SHA-256.  Every request made
 * with it sees tenant T alone.  revoke ends it at once; list shows names
 * and dates, never a token or a hash.
 *
 * account-domain gives domain D to the account that owns domain E, so
 * that one customer writing from initech.com and initech.de is one
 * account.  If D had an account of its own, its contacts, its other
 * domains and its indexed chunks move to E's account and it goes.  Mail
 * and meetings resolved later find D's account through account_domains.
 *
 * purge removes a party (a person, or everyone at a domain) from one
 * tenant, in one transaction, and records it in purge_audit.  What goes:
 *
 *   - the contacts: for --address, the contact owning A together with all
 *     of its addresses; for --domain, every contact with an address at D
 *     or a subdomain of D, and the account domains D / *.D (accounts left
 *     without a domain go too);
 *   - their participations (participants) and meeting attendances;
 *   - every message where they took part and every other party is
 *     internal (a tenant domain) or purged too: the conversation was
 *     theirs alone.  Its attachments' metadata goes with it (cascade);
 *   - every meeting where every other attendee and the organizer are
 *     internal or purged;
 *   - threads left with no message.
 *
 * What stays: messages with another external party keep their subject and
 * body, which may still name the purged party; the raw records in Kafka
 * expire with the topic's retention.  See docs/schema.md "Purge".
 *
 * The audit row keeps a SHA-256 of the lower-cased target, never the
 * address itself, plus the counts and the ids of the deleted messages.
 * Their chunks and vectors go through the index queue: deleting a message
 * queues a delete in the same transaction (enrich/sql/0011), which
 * crm-index carries out in the vector store and message_chunks.
 */
#include <getopt.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/api_token.h"
#include "lib/hex.h"
#include "lib/xmalloc.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-admin [-d CONNINFO] purge --tenant T "
	    "(--address A | --domain D)\n"
	    "                 [--dry-run] [--actor NAME]\n"
	    "\n"
	    "  -d, --database CONNINFO  libpq connection string (default "
	    "$DATABASE_URL,\n"
	    "                           else libpq's PG* variables); connect "
	    "as crm_enrich\n"
	    "                           or another non-owner role: row-level "
	    "security\n"
	    "                           keeps the purge inside the tenant\n"
	    "      --tenant T           tenant id (as in the events' tenant "
	    "header)\n"
	    "      --address A          a person: their contact and all its "
	    "addresses\n"
	    "      --domain D           everyone at D and its subdomains, and "
	    "the account domain\n"
	    "  -n, --dry-run            report what would be removed; change "
	    "nothing\n"
	    "      --actor NAME         who asked (audit), default the login "
	    "name\n"
	    "  -h, --help               this text\n"
	    "\n"
	    "       crm-admin [-d CONNINFO] account-domain --tenant T "
	    "--domain D --into E\n"
	    "                 [--dry-run]\n"
	    "\n"
	    "  gives domain D (and, if D had an account, that account's "
	    "contacts and\n"
	    "  domains) to the account that owns domain E\n"
	    "\n"
	    "       crm-admin [-d CONNINFO] token create|revoke --tenant T "
	    "--name N\n"
	    "       crm-admin [-d CONNINFO] token list --tenant T\n"
	    "\n"
	    "  a bearer token for crm-api that sees tenant T only: create "
	    "prints it\n"
	    "  once (only its SHA-256 is stored); revoke ends it; list shows "
	    "names and\n"
	    "  dates.  N: letters, digits, '.', '_', '-', at most 64\n");
}

static PGconn *conn;

static void
die(const char *what, PGresult *r)
{
	fprintf(stderr, "crm-admin: %s: %s", what,
	    r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
	if (r)
		PQclear(r);
	PQfinish(conn);
	exit(1);
}

static PGresult *
q(const char *what, const char *sql, int n, const char *const *p)
{
	PGresult *r = PQexecParams(conn, sql, n, NULL, p, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_COMMAND_OK &&
	    PQresultStatus(r) != PGRES_TUPLES_OK)
		die(what, r);
	return r;
}

/* Runs a statement returning one value; returns a copy ("" for NULL). */
static char *
q1(const char *what, const char *sql, int n, const char *const *p)
{
	PGresult *r = q(what, sql, n, p);
	char *v = xstrdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");

	PQclear(r);
	return v;
}

static char *
q_count(const char *what, const char *sql, int n, const char *const *p)
{
	PGresult *r = q(what, sql, n, p);
	char *v = xstrdup(PQcmdTuples(r));

	PQclear(r);
	return v;
}

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *c = d; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return d;
}

/* account-domain: D joins the account of E.  One transaction. */
static int
account_domain(const char *tenant, const char *d_arg, const char *e_arg,
    bool dry)
{
	char *d = lower_dup(d_arg), *e = lower_dup(e_arg), *acct_e, *acct_d;
	char *n_contacts = xstrdup("0"), *n_domains = xstrdup("0");
	char *n_chunks = xstrdup("0");
	int rc = 0;

	PQclear(q("begin", "BEGIN", 0, NULL));
	{
		const char *p[1] = { tenant };
		PQclear(q("set tenant", "SELECT set_config('crm.tenant_id', "
		    "$1, true)", 1, p));
	}
	{
		const char *p[2] = { tenant, e };
		acct_e = q1("account of --into", "SELECT account_id FROM "
		    "account_domains WHERE tenant_id = $1 AND domain = $2",
		    2, p);
	}
	{
		const char *p[2] = { tenant, d };
		acct_d = q1("account of --domain", "SELECT account_id FROM "
		    "account_domains WHERE tenant_id = $1 AND domain = $2",
		    2, p);
	}
	if (*acct_e == '\0') {
		fprintf(stderr, "crm-admin: no account of tenant %s owns the "
		    "domain %s (see account_domains)\n", tenant, e);
		rc = 1;
	} else if (strcmp(acct_d, acct_e) == 0) {
		printf("tenant=%s domain %s already belongs to account %s\n",
		    tenant, d, acct_e);
	} else if (*acct_d == '\0') {
		const char *p[3] = { tenant, d, acct_e };

		PQclear(q("add domain", "INSERT INTO account_domains "
		    "(tenant_id, domain, account_id) VALUES ($1, $2, "
		    "$3::bigint)", 3, p));
		free(n_domains);
		n_domains = xstrdup("1");
	} else {
		const char *p[3] = { tenant, acct_d, acct_e };

		free(n_contacts);
		free(n_domains);
		free(n_chunks);
		n_contacts = q_count("contacts", "UPDATE contacts SET "
		    "account_id = $3::bigint WHERE tenant_id = $1 AND "
		    "account_id = $2::bigint", 3, p);
		n_chunks = q_count("chunks", "UPDATE message_chunks SET "
		    "account_id = $3::bigint WHERE tenant_id = $1 AND "
		    "account_id = $2::bigint", 3, p);
		n_domains = q_count("domains", "UPDATE account_domains SET "
		    "account_id = $3::bigint WHERE tenant_id = $1 AND "
		    "account_id = $2::bigint", 3, p);
		PQclear(q("drop account", "DELETE FROM accounts WHERE "
		    "tenant_id = $1 AND id = $2::bigint", 2, p));
	}
	if (rc == 0 && strcmp(acct_d, acct_e) != 0)
		printf("%s tenant=%s domain=%s into account %s (of %s):"
		    " {\"domains\": %s, \"contacts\": %s, \"chunks\": %s,"
		    " \"accounts_removed\": %d}\n", dry ? "would move" :
		    "moved", tenant, d, acct_e, e, n_domains, n_contacts,
		    n_chunks, *acct_d != '\0' ? 1 : 0);
	PQclear(q("end", dry || rc != 0 ? "ROLLBACK" : "COMMIT", 0, NULL));
	free(d);
	free(e);
	free(acct_e);
	free(acct_d);
	free(n_contacts);
	free(n_domains);
	free(n_chunks);
	return rc;
}

/* token create|revoke|list.  One transaction each, inside tenant T. */
static int
token_cmd(const char *cmd, const char *tenant, const char *name)
{
	char tok[API_TOKEN_LEN + 1], hash[67];
	int rc = 0;

	PQclear(q("begin", "BEGIN", 0, NULL));
	{
		const char *p[1] = { tenant };
		PQclear(q("set tenant", "SELECT set_config('crm.tenant_id', "
		    "$1, true)", 1, p));
	}
	if (strcmp(cmd, "create") == 0) {
		const char *p[3] = { tenant, name, hash };
		PGresult *r;

		if (api_token_new(tok) != 0 ||
		    api_token_hash(tok, strlen(tok), hash) != 0) {
			fprintf(stderr, "crm-admin: cannot make a token\n");
			rc = 1;
		} else {
			r = PQexecParams(conn, "INSERT INTO api_tokens "
			    "(tenant_id, name, token_hash) VALUES ($1, $2, "
			    "$3::bytea)", 3, NULL, p, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				fprintf(stderr, "crm-admin: token %s of tenant "
				    "%s: %s", name, tenant,
				    strstr(PQresultErrorMessage(r),
				    "duplicate") != NULL ? "exists already "
				    "(revoke it, or pick another name)\n" :
				    PQresultErrorMessage(r));
				rc = 1;
			} else {
				/* The only time anyone sees it. */
				printf("%s\n", tok);
			}
			PQclear(r);
		}
		explicit_bzero(tok, sizeof(tok));
	} else if (strcmp(cmd, "revoke") == 0) {
		const char *p[2] = { tenant, name };
		char *n = q_count("revoke", "UPDATE api_tokens SET revoked_at "
		    "= now() WHERE tenant_id = $1 AND name = $2 AND "
		    "revoked_at IS NULL", 2, p);

		if (strcmp(n, "1") != 0) {
			fprintf(stderr, "crm-admin: tenant %s has no live "
			    "token named %s\n", tenant, name);
			rc = 1;
		} else {
			printf("revoked tenant=%s token=%s\n", tenant, name);
		}
		free(n);
	} else {
		const char *p[1] = { tenant };
		PGresult *r = q("list", "SELECT name, to_char(created_at, "
		    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(to_char("
		    "revoked_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') "
		    "FROM api_tokens WHERE tenant_id = $1 ORDER BY name",
		    1, p);

		for (int i = 0; i < PQntuples(r); i++)
			printf("%s created=%s%s%s\n", PQgetvalue(r, i, 0),
			    PQgetvalue(r, i, 1), *PQgetvalue(r, i, 2) ?
			    " revoked=" : "", PQgetvalue(r, i, 2));
		PQclear(r);
	}
	PQclear(q("end", rc != 0 ? "ROLLBACK" : "COMMIT", 0, NULL));
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "database", required_argument, NULL, 'd' },
		{ "tenant", required_argument, NULL, 't' },
		{ "address", required_argument, NULL, 'a' },
		{ "domain", required_argument, NULL, 'D' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "actor", required_argument, NULL, 'A' },
		{ "into", required_argument, NULL, 'I' },
		{ "name", required_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *conninfo = getenv("DATABASE_URL"), *tenant = NULL;
	const char *address = NULL, *domain = NULL, *actor = NULL;
	const char *into = NULL, *name = NULL;
	bool dry = false;
	char *addrs, *contacts, *msgs, *meetings, *target, *kind;
	char *n_msgs, *n_parts, *n_meet, *n_att, *n_contacts, *n_threads;
	char *n_accounts, *counts, hash[65];
	unsigned char md[32];
	unsigned int mdlen = 0;
	int ch;

	while ((ch = getopt_long(argc, argv, "d:nh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'd': conninfo = optarg; break;
		case 't': tenant = optarg; break;
		case 'a': address = optarg; break;
		case 'D': domain = optarg; break;
		case 'n': dry = true; break;
		case 'A': actor = optarg; break;
		case 'I': into = optarg; break;
		case 'N': name = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 2 == argc && strcmp(argv[optind], "token") == 0) {
		const char *cmd = argv[optind + 1];
		bool list = strcmp(cmd, "list") == 0;
		int rc;

		if (tenant == NULL || (!list && strcmp(cmd, "create") != 0 &&
		    strcmp(cmd, "revoke") != 0) || (name == NULL) != list ||
		    address != NULL || domain != NULL || into != NULL) {
			usage(stderr);
			return 2;
		}
		conn = PQconnectdb(conninfo ? conninfo : "");
		if (PQstatus(conn) != CONNECTION_OK)
			die("cannot connect", NULL);
		rc = token_cmd(cmd, tenant, name);
		PQfinish(conn);
		return rc;
	}
	if (optind + 1 == argc &&
	    strcmp(argv[optind], "account-domain") == 0) {
		int rc;

		if (tenant == NULL || domain == NULL || into == NULL ||
		    address != NULL) {
			usage(stderr);
			return 2;
		}
		conn = PQconnectdb(conninfo ? conninfo : "");
		if (PQstatus(conn) != CONNECTION_OK)
			die("cannot connect", NULL);
		rc = account_domain(tenant, domain, into, dry);
		PQfinish(conn);
		return rc;
	}
	if (optind + 1 != argc || strcmp(argv[optind], "purge") != 0 ||
	    tenant == NULL || (address == NULL) == (domain == NULL) ||
	    into != NULL) {
		usage(stderr);
		return 2;
	}
	if (actor == NULL) {
		struct passwd *pw = getpwuid(getuid());
		actor = pw ? pw->pw_name : "unknown";
	}
	n_accounts = xstrdup("0");
	target = lower_dup(address ? address : domain);
	kind = address ? "address" : "domain";
	if (EVP_Digest(target, strlen(target), md, &mdlen, EVP_sha256(),
	    NULL) != 1)
		return 1;
	hex_encode(md, 32, hash);

	conn = PQconnectdb(conninfo ? conninfo : "");
	if (PQstatus(conn) != CONNECTION_OK)
		die("cannot connect", NULL);
	PQclear(q("begin", "BEGIN", 0, NULL));
	{
		const char *p[1] = { tenant };
		PQclear(q("set tenant", "SELECT set_config('crm.tenant_id', "
		    "$1, true)", 1, p));
	}
	/* The party's addresses: known contact addresses, plus addresses
	 * only ever seen as participants or attendees. */
	{
		const char *p[2] = { tenant, target };
		addrs = q1("addresses", address ?
		    "SELECT COALESCE(array_agg(DISTINCT a), '{}') FROM ("
		    "SELECT $2 AS a UNION SELECT ca.address FROM "
		    "contact_addresses ca WHERE ca.tenant_id = $1 AND "
		    "ca.contact_id IN (SELECT contact_id FROM contact_addresses "
		    "WHERE tenant_id = $1 AND address = $2)) s" :
		    "SELECT COALESCE(array_agg(DISTINCT a), '{}') FROM ("
		    "SELECT address AS a FROM contact_addresses WHERE tenant_id "
		    "= $1 UNION SELECT address FROM participants WHERE "
		    "tenant_id = $1 UNION SELECT address FROM attendees WHERE "
		    "tenant_id = $1) s WHERE split_part(a, '@', 2) = $2 OR "
		    "split_part(a, '@', 2) LIKE '%.' || $2", 2, p);
	}
	{
		const char *p[2] = { tenant, addrs };
		contacts = q1("contacts", "SELECT COALESCE(array_agg(DISTINCT "
		    "contact_id), '{}') FROM contact_addresses WHERE tenant_id "
		    "= $1 AND address = ANY($2::text[])", 2, p);
		/* Messages whose every other party is internal or purged. */
		msgs = q1("messages", "SELECT COALESCE(array_agg(m.id ORDER BY "
		    "m.id), '{}') FROM messages m WHERE m.tenant_id = $1 AND "
		    "EXISTS (SELECT 1 FROM participants p WHERE p.message_id = "
		    "m.id AND p.address = ANY($2::text[])) AND NOT EXISTS ("
		    "SELECT 1 FROM participants o WHERE o.message_id = m.id AND "
		    "NOT (o.address = ANY($2::text[])) AND split_part(o.address, "
		    "'@', 2) NOT IN (SELECT domain FROM tenant_domains WHERE "
		    "tenant_id = $1))", 2, p);
		meetings = q1("meetings", "SELECT COALESCE(array_agg(g.id), "
		    "'{}') FROM meetings g WHERE g.tenant_id = $1 AND (EXISTS "
		    "(SELECT 1 FROM attendees a WHERE a.meeting_id = g.id AND "
		    "a.address = ANY($2::text[])) OR g.organizer = ANY($2::"
		    "text[])) AND NOT EXISTS (SELECT 1 FROM attendees o WHERE "
		    "o.meeting_id = g.id AND NOT (o.address = ANY($2::text[])) "
		    "AND split_part(o.address, '@', 2) NOT IN (SELECT domain "
		    "FROM tenant_domains WHERE tenant_id = $1))", 2, p);
	}
	{
		const char *p[3] = { tenant, msgs, addrs };
		n_threads = q1("threads", "SELECT COALESCE(array_agg(DISTINCT "
		    "thread_id), '{}') FROM messages WHERE tenant_id = $1 AND "
		    "id = ANY($2::bigint[]) AND thread_id IS NOT NULL", 2, p);
		n_msgs = q_count("delete messages", "DELETE FROM messages WHERE "
		    "tenant_id = $1 AND id = ANY($2::bigint[])", 2, p);
		{
			const char *p2[2] = { tenant, addrs };
			n_parts = q_count("delete participants", "DELETE FROM "
			    "participants WHERE tenant_id = $1 AND address = "
			    "ANY($2::text[])", 2, p2);
		}
	}
	{
		/* Threads: recount what is left, drop the empty ones. */
		char *tids = n_threads;
		const char *p[2] = { tenant, tids };
		PQclear(q("recount threads", "UPDATE threads t SET "
		    "message_count = (SELECT count(*) FROM messages m WHERE "
		    "m.tenant_id = t.tenant_id AND m.thread_id = t.id) WHERE "
		    "t.tenant_id = $1 AND t.id = ANY($2::bigint[])", 2, p));
		n_threads = q_count("delete threads", "DELETE FROM threads WHERE "
		    "tenant_id = $1 AND id = ANY($2::bigint[]) AND "
		    "message_count = 0", 2, p);
		free(tids);
	}
	{
		const char *p[3] = { tenant, meetings, addrs };
		n_meet = q_count("delete meetings", "DELETE FROM meetings WHERE "
		    "tenant_id = $1 AND id = ANY($2::bigint[])", 2, p);
		{
			const char *p2[2] = { tenant, addrs };
			n_att = q_count("delete attendees", "DELETE FROM "
			    "attendees WHERE tenant_id = $1 AND address = "
			    "ANY($2::text[])", 2, p2);
			PQclear(q("organizer", "UPDATE meetings SET organizer "
			    "= NULL WHERE tenant_id = $1 AND organizer = "
			    "ANY($2::text[])", 2, p2));
		}
	}
	{
		const char *p[2] = { tenant, contacts };
		n_contacts = q_count("delete contacts", "DELETE FROM contacts "
		    "WHERE tenant_id = $1 AND id = ANY($2::bigint[])", 2, p);
	}
	if (domain != NULL) {
		const char *p[2] = { tenant, target };
		char *accts = q1("accounts", "SELECT COALESCE(array_agg("
		    "DISTINCT account_id), '{}') FROM account_domains WHERE "
		    "tenant_id = $1 AND (domain = $2 OR domain LIKE '%.' || $2)",
		    2, p);
		PQclear(q("delete account domains", "DELETE FROM account_domains "
		    "WHERE tenant_id = $1 AND (domain = $2 OR domain LIKE '%.' "
		    "|| $2)", 2, p));
		{
			const char *p2[2] = { tenant, accts };
			free(n_accounts);
			n_accounts = q_count("delete accounts", "DELETE FROM "
			    "accounts a WHERE tenant_id = $1 AND id = ANY($2::"
			    "bigint[]) AND NOT EXISTS (SELECT 1 FROM "
			    "account_domains d WHERE d.tenant_id = a.tenant_id "
			    "AND d.account_id = a.id)", 2, p2);
		}
		free(accts);
	}
	counts = xasprintf("{\"messages\": %s, \"participants\": %s, "
	    "\"threads\": %s, \"meetings\": %s, \"attendees\": %s, "
	    "\"contacts\": %s, \"accounts\": %s}", n_msgs, n_parts, n_threads,
	    n_meet, n_att, n_contacts, n_accounts);
	{
		/* vector_purged stays false: crm-index deletes the vectors
		 * from the queue, after this commit. */
		const char *p[7] = { tenant, actor, kind, hash, counts, msgs,
		    "f" };
		char *id = q1("audit", "INSERT INTO purge_audit (tenant_id, "
		    "actor, target_kind, target_sha256, counts, message_ids, "
		    "vector_purged) VALUES ($1, $2, $3, $4, $5::jsonb, "
		    "$6::bigint[], $7) RETURNING id", 7, p);
		printf("%s tenant=%s %s sha256=%s audit=%s %s%s\n",
		    dry ? "would purge" : "purged", tenant, kind, hash,
		    dry ? "-" : id, counts,
		    dry ? "" : " (chunks and vectors: queued for crm-index)");
		free(id);
	}
	PQclear(q("end", dry ? "ROLLBACK" : "COMMIT", 0, NULL));
	PQfinish(conn);
	free(addrs);
	free(contacts);
	free(msgs);
	free(meetings);
	free(target);
	free(n_msgs);
	free(n_parts);
	free(n_meet);
	free(n_att);
	free(n_contacts);
	free(n_threads);
	free(n_accounts);
	free(counts);
	return 0;
}
