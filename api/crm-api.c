/*
 * crm-api.c - the managers' REST API (docs/api.md, man/crm-api.8).
 *
 *   crm-api [-c FILE] [--check] [-d] [-h]
 *
 * Read-only, over HTTP/1.1 (TLS when [api] cert and key are set):
 *
 *   GET /v1/health                   no token; 200, or 503 without the
 *                                    database
 *   GET /v1/accounts[?limit=N]       the token's tenant's accounts
 *   GET /v1/search?q=...[&since=30d][&until=...][&account=N][&limit=K]
 *                                    hybrid search, as crm-search --json
 *
 * Every other request needs "Authorization: Bearer <token>".  A token is
 * made by `crm-admin token create` and stored only as its SHA-256; it
 * names one tenant, and every query runs as the crm_api role with that
 * tenant set for the transaction, so row-level security keeps the answer
 * inside it (docs/schema.md).  The daemon never sees another tenant's
 * rows, and never logs a token, a query string or a result.
 *
 * [api] workers threads (default 2) serve requests side by side, each
 * with its own event loop, HTTP server, database connections and search
 * context, all accepting from one listening socket: a slow search (10-40
 * ms on two cores) no longer holds up the health check or another
 * manager.  A token that asks faster than [api] rate (after bursts of up
 * to [api] burst) is answered 429 with Retry-After (api_rate.c; one
 * table for all workers), so one runaway script cannot take the daemon
 * from everyone else.
 * libevent's HTTP server bounds the headers (8 KiB), the body (none is
 * taken) and the time a request may take; api_req.c bounds the target.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <openssl/ssl.h>

#include "api/api_rate.h"
#include "api/api_req.h"
#include "enrich/search/search.h"
#include "enrich/search/search_json.h"
#include "lib/api_token.h"
#include "lib/clock_ms.h"
#include "lib/conf.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG "/etc/crm/crm-api.conf"
#define HEADERS_MAX 8192
#define RATE_SLOTS 256		/* tokens remembered by the rate limit */
#define RATE_DEFAULT "10/s"	/* [api] rate */
#define WORKERS_DEFAULT 2	/* [api] workers */
#define WORKERS_MAX 16
#define LISTEN_BACKLOG 128

struct api_conf {
	char *path;
	char *listen;
	struct sockaddr_storage listen_ss;	/* listen, parsed */
	socklen_t listen_len;
	char *cert, *key;
	bool allow_plaintext;
	unsigned request_timeout;
	unsigned workers;
	/* per token: rate_n requests every rate_secs s; rate_n 0: none */
	unsigned rate_n, rate_secs, burst;
	char *rate;			/* as written, for messages */
	enum log_level log_level;
	bool syslog;
	struct search_config search;
};

/* A thread serving requests: everything a request touches but the rate
 * table is its own. */
struct api_worker {
	unsigned id;
	pthread_t thread;
	struct event_base *base;
	struct evhttp *http;
	PGconn *db;			/* tokens and accounts */
	struct search_ctx *search;
};

static struct {
	struct api_conf *conf;
	SSL_CTX *ssl_ctx;
	struct api_rate *rate;		/* NULL: [api] rate = 0 */
	pthread_mutex_t rate_lock;
	struct api_worker *w;
	unsigned nw;
	struct event_base *base;	/* the main thread's: signals */
} api = { .rate_lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- configuration ---------------------------------------------------- */

static int
api_conf_handler(void *ctx, const char *section, const char *name,
    const char *key, const char *value, int line, char *err)
{
	static const char *const sections[] = { "api", "embed", "vector",
	    "embed2", "vector2", "database", "log", NULL };
	struct api_conf *c = ctx;

	(void)line;
	if (*key == '\0') {
		(void)search_config_open(&c->search, section);
		return conf_section_plain(section, name, sections, err);
	}
	if (search_config_section(section))
		return search_config_set(&c->search, section, key, value, err);
	if (strcmp(section, "api") == 0) {
		char **s = strcmp(key, "listen") == 0 ? &c->listen :
		    strcmp(key, "cert") == 0 ? &c->cert :
		    strcmp(key, "key") == 0 ? &c->key : NULL;

		if (s != NULL) {
			free(*s);
			*s = *value != '\0' ? xstrdup(value) : NULL;
			return 0;
		}
		if (strcmp(key, "allow_plaintext") == 0)
			return conf_parse_bool(value, &c->allow_plaintext, err);
		if (strcmp(key, "request_timeout") == 0)
			return conf_parse_duration(value, 1, 600,
			    &c->request_timeout, err);
		if (strcmp(key, "workers") == 0)
			return conf_parse_uint(value, 1, WORKERS_MAX,
			    &c->workers, err);
		if (strcmp(key, "rate") == 0) {
			if (api_rate_parse(value, &c->rate_n, &c->rate_secs,
			    err, CONF_ERR_MAX) != 0)
				return -1;
			free(c->rate);
			c->rate = xstrdup(value);
			return 0;
		}
		if (strcmp(key, "burst") == 0)
			return conf_parse_uint(value, 1, API_BURST_MAX,
			    &c->burst, err);
	}
	return conf_log_or_unknown(section, key, value, &c->log_level,
	    &c->syslog, err);
}

static void
api_conf_free(struct api_conf **cp)
{
	struct api_conf *c = *cp;

	if (c == NULL)
		return;
	search_config_fini(&c->search);
	free(c->path);
	free(c->listen);
	free(c->cert);
	free(c->key);
	free(c->rate);
	x_free(cp);
}

static bool
loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr)
		    >> 24) == 127;
	return ss->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static struct api_conf *
api_conf_load(const char *path, char *err)
{
	struct api_conf *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	c->listen = xstrdup("127.0.0.1:8480");
	c->request_timeout = 10;
	c->workers = WORKERS_DEFAULT;
	c->rate = xstrdup(RATE_DEFAULT);
	c->burst = 30;
	c->log_level = LOG_LEVEL_INFO;
	search_config_init(&c->search);
	if (api_rate_parse(c->rate, &c->rate_n, &c->rate_secs, err,
	    CONF_ERR_MAX) != 0 ||
	    conf_parse_file(path, api_conf_handler, c, err) != 0 ||
	    search_config_check(&c->search, path, err, CONF_ERR_MAX) != 0)
		goto fail;
	if (conf_parse_sockaddr(c->listen, &c->listen_ss, &c->listen_len,
	    err) != 0) {
		char e[CONF_ERR_MAX];

		snprintf(e, sizeof(e), "%s: [api] listen: %s", path, err);
		memcpy(err, e, CONF_ERR_MAX);
		goto fail;
	}
	if ((c->cert == NULL) != (c->key == NULL)) {
		snprintf(err, CONF_ERR_MAX, "%s: [api] cert and key go "
		    "together", path);
		goto fail;
	}
	/* Bearer tokens cross this socket: in clear only on loopback (a
	 * TLS-terminating proxy in front), unless the operator says so. */
	if (c->cert == NULL && !loopback(&c->listen_ss) &&
	    !c->allow_plaintext) {
		snprintf(err, CONF_ERR_MAX, "%s: [api] listen %s is not "
		    "loopback and there is no cert/key: tokens would cross "
		    "the network in clear (set cert and key, or "
		    "allow_plaintext = yes behind a TLS proxy)", path,
		    c->listen);
		goto fail;
	}
	return c;
fail:
	api_conf_free(&c);
	return NULL;
}

/* ---- answers ---------------------------------------------------------- */

static void
reply_json(struct evhttp_request *req, int code, json_t *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evbuffer_new();
	char *s = json_dumps(body, JSON_COMPACT);

	evhttp_add_header(h, "Content-Type", "application/json; charset=utf-8");
	evhttp_add_header(h, "Cache-Control", "no-store");
	if (s != NULL) {
		evbuffer_add(out, s, strlen(s));
		evbuffer_add(out, "\n", 1);
	}
	evhttp_send_reply(req, code, NULL, out);
	evbuffer_free(out);
	free(s);
	json_decref(body);
}

static void
reply_error(struct evhttp_request *req, int code, const char *msg)
{
	reply_json(req, code, json_pack("{s:s}", "error", msg));
}

/* ---- the database ----------------------------------------------------- */

/* A connection for tokens and accounts ([search] conninfo, else libpq's
 * environment); not checked here. */
static PGconn *
db_connect(void)
{
	return PQconnectdb(api.conf->search.conninfo != NULL ?
	    api.conf->search.conninfo : "");
}

static bool
db_ok(struct api_worker *w)
{
	if (PQstatus(w->db) == CONNECTION_OK)
		return true;
	PQreset(w->db);
	return PQstatus(w->db) == CONNECTION_OK;
}

/*
 * PQexecParams, once more on a fresh connection when the first attempt
 * found it broken (the server restarted since the last request).  Only
 * for statements that may run twice: the token lookup, and the health
 * probe.
 */
static PGresult *
db_query(struct api_worker *w, const char *sql, int n, const char *const *p)
{
	PGresult *r = PQexecParams(w->db, sql, n, NULL, p, NULL, NULL, 0);

	if (PQresultStatus(r) != PGRES_TUPLES_OK &&
	    PQstatus(w->db) != CONNECTION_OK && db_ok(w)) {
		PQclear(r);
		r = PQexecParams(w->db, sql, n, NULL, p, NULL, NULL, 0);
	}
	return r;
}

/*
 * The tenant and name of a live token, from the Authorization header.
 * Returns 0; 1 when the header is missing or the token unknown (401);
 * -1 when the database cannot answer (503).
 */
static int
authenticate(struct api_worker *w, struct evhttp_request *req, char *tenant,
    size_t tsize, char *name, size_t nsize)
{
	const char *a = evhttp_find_header(evhttp_request_get_input_headers(
	    req), "Authorization");
	char hash[67];
	const char *p[1] = { hash };
	PGresult *r;
	int rc;

	if (a == NULL || strncasecmp(a, "Bearer ", 7) != 0)
		return 1;
	a += 7;
	while (*a == ' ')
		a++;
	if (!api_token_form_ok(a, strlen(a)) ||
	    api_token_hash(a, strlen(a), hash) != 0)
		return 1;
	if (!db_ok(w))
		return -1;
	r = db_query(w, "SELECT tenant_id, name FROM api_token_tenant($1::bytea) "
	    "WHERE tenant_id IS NOT NULL", 1, p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_warnx("token lookup: %s", PQresultErrorMessage(r));
		rc = -1;
	} else if (PQntuples(r) != 1) {
		rc = 1;
	} else {
		snprintf(tenant, tsize, "%s", PQgetvalue(r, 0, 0));
		snprintf(name, nsize, "%s", PQgetvalue(r, 0, 1));
		rc = 0;
	}
	PQclear(r);
	return rc;
}

static json_t *
accounts_json(struct api_worker *w, const char *tenant, unsigned limit)
{
	char lim[16];
	const char *p[2] = { tenant, lim };
	json_t *list = NULL;
	PGresult *r;

	snprintf(lim, sizeof(lim), "%u", limit);
	PQclear(PQexec(w->db, "BEGIN READ ONLY"));
	r = PQexecParams(w->db, "SELECT set_config('crm.tenant_id', $1, "
	    "true)", 1, NULL, p, NULL, NULL, 0);
	PQclear(r);
	r = PQexecParams(w->db,
	    "SELECT a.id, a.name, "
	    "  coalesce((SELECT json_agg(d.domain ORDER BY d.domain) "
	    "    FROM account_domains d WHERE d.account_id = a.id), '[]'), "
	    "  (SELECT count(*) FROM contacts c WHERE c.account_id = a.id), "
	    "  (SELECT to_char(max(c.last_seen) AT TIME ZONE 'UTC', "
	    "    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM contacts c "
	    "    WHERE c.account_id = a.id) AS last_seen "
	    "FROM accounts a WHERE a.tenant_id = $1 "
	    "ORDER BY last_seen DESC NULLS LAST, a.id LIMIT $2::int",
	    2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		list = json_array();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *doms = json_loads(PQgetvalue(r, i, 2), 0, NULL);
			json_t *o = json_pack("{s:I, s:s, s:o, s:I}", "id",
			    (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
			    "name", PQgetvalue(r, i, 1), "domains",
			    doms != NULL ? doms : json_array(), "contacts",
			    (json_int_t)strtoll(PQgetvalue(r, i, 3), NULL, 10));

			if (o == NULL)
				continue;	/* a name that is not UTF-8 */
			json_object_set_new(o, "last_seen",
			    PQgetisnull(r, i, 4) ? json_null() :
			    json_string(PQgetvalue(r, i, 4)));
			json_array_append_new(list, o);
		}
	} else {
		log_warnx("accounts: %s", PQresultErrorMessage(r));
	}
	PQclear(r);
	PQclear(PQexec(w->db, "COMMIT"));
	return list;
}

/* ---- requests --------------------------------------------------------- */

/* The request target as the client sent it ("" if libevent has none). */
static const char *
request_target(struct evhttp_request *req)
{
	const char *t = evhttp_request_get_uri(req);

	return t != NULL ? t : "";
}

static int
do_search(struct api_worker *w, struct evhttp_request *req, const char *tenant,
    struct api_req *ar)
{
	struct search_opts o;
	struct search_result res = { 0 };
	char err[SEARCH_ERR_MAX];
	int rc;

	search_opts_init(&o);
	o.k = ar->limit;
	o.account_id = ar->account;
	o.has_since = ar->has_since;
	o.since = ar->since;
	o.has_until = ar->has_until;
	o.until = ar->until;
	if (ar->dates)
		(void)search_query_dates(ar->q, (int64_t)time(NULL), &o);
	rc = search_query(w->search, tenant, ar->q, &o, &res, err,
	    sizeof(err));
	if (rc != 0 && !search_db_ok(w->search) &&
	    search_db_reset(w->search)) {
		/* the server restarted since the last request */
		search_result_fini(&res);
		rc = search_query(w->search, tenant, ar->q, &o, &res, err,
		    sizeof(err));
	}
	if (rc != 0) {
		int code = search_db_ok(w->search) ? 500 : 503;

		log_warnx("search for tenant=%s: %s", tenant, err);
		search_result_fini(&res);
		reply_error(req, code, "search failed");
		return code;
	}
	reply_json(req, 200, search_result_json(&res, &o, tenant, ar->q,
	    "hybrid"));
	search_result_fini(&res);
	return 200;
}

/*
 * True when the token TENANT/NAME has used its requests for now: the
 * answer is 429 with Retry-After in whole seconds (rounded up).
 */
static bool
rate_limited(struct evhttp_request *req, const char *tenant,
    const char *name)
{
	char key[API_RATE_KEY_MAX + 1], msg[160], after[24];
	uint64_t wait;

	if (api.rate == NULL)
		return false;
	snprintf(key, sizeof(key), "%s/%s", tenant, name);
	pthread_mutex_lock(&api.rate_lock);
	wait = api_rate_take(api.rate, key, mono_ms());
	pthread_mutex_unlock(&api.rate_lock);
	if (wait == 0)
		return false;
	snprintf(after, sizeof(after), "%" PRIu64, (wait + 999) / 1000);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Retry-After", after);
	snprintf(msg, sizeof(msg), "too many requests: the limit is %s per "
	    "token, bursts of %u; retry after %s s", api.conf->rate,
	    api.conf->burst, after);
	reply_error(req, 429, msg);
	return true;
}

static int
handle(struct api_worker *w, struct evhttp_request *req, char *tenant,
    size_t tsize, char *who, size_t wsize)
{
	const char *target = request_target(req), *err = NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct api_req *ar;
	int code;

	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		reply_error(req, 405, "read-only: GET and HEAD only");
		return 405;
	}
	ar = xcalloc(1, sizeof(*ar));
	if (api_req_parse(target, strlen(target), (int64_t)time(NULL), ar,
	    &err) != 0) {
		reply_error(req, 400, err);
		code = 400;
		goto out;
	}
	switch (ar->route) {
	case API_ROUTE_NONE:
		reply_error(req, 404, "no such resource (see docs/api.md)");
		code = 404;
		goto out;
	case API_ROUTE_HEALTH: {
		bool up = db_ok(w);

		if (up) {
			PGresult *r = db_query(w, "SELECT 1", 0, NULL);

			up = PQresultStatus(r) == PGRES_TUPLES_OK;
			PQclear(r);
		}
		code = up ? 200 : 503;
		reply_json(req, code, json_pack("{s:s, s:s}", "status",
		    up ? "ok" : "unavailable", "database", up ? "ok" :
		    "down"));
		goto out;
	}
	case API_ROUTE_ACCOUNTS:
	case API_ROUTE_SEARCH:
		break;
	}
	switch (authenticate(w, req, tenant, tsize, who, wsize)) {
	case 1:
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "WWW-Authenticate", "Bearer realm=\"crm-api\"");
		reply_error(req, 401, "a valid bearer token is required");
		code = 401;
		goto out;
	case -1:
		reply_error(req, 503, "the database is unavailable");
		code = 503;
		goto out;
	}
	if (rate_limited(req, tenant, who)) {
		code = 429;
		goto out;
	}
	if (ar->route == API_ROUTE_ACCOUNTS) {
		json_t *list = accounts_json(w, tenant, ar->limit);

		if (list == NULL) {
			code = db_ok(w) ? 500 : 503;
			reply_error(req, code, "accounts unavailable");
		} else {
			reply_json(req, 200, json_pack("{s:s, s:o}", "tenant",
			    tenant, "accounts", list));
			code = 200;
		}
		goto out;
	}
	code = do_search(w, req, tenant, ar);
out:
	free(ar);
	return code;
}

static const char *
method_name(enum evhttp_cmd_type m)
{
	switch (m) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	default: return "OTHER";
	}
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	char tenant[256] = "-", who[128] = "-";
	const char *target = request_target(req);
	size_t plen = strcspn(target, "?");
	uint64_t t0 = mono_ms();
	struct api_worker *w = arg;
	int code;

	code = handle(w, req, tenant, sizeof(tenant), who, sizeof(who));
	/* The path only: a query string may hold what a manager searched. */
	log_info("%s %.*s %d %lld ms tenant=%s token=%s worker=%u",
	    method_name(evhttp_request_get_command(req)),
	    (int)(plen > 64 ? 64 : plen), target, code,
	    (long long)(mono_ms() - t0), tenant, who, w->id);
}

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	SSL *ssl = SSL_new(arg);

	if (ssl == NULL)
		return NULL;
	return bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	log_info("stopping on signal %d", (int)sig);
	/* each worker finishes the request it is in, then stops */
	for (unsigned i = 0; i < api.nw; i++)
		event_base_loopexit(api.w[i].base, NULL);
	event_base_loopexit(api.base, NULL);
}

/* Worker id: its loop, its HTTP server on the shared socket fd, its
 * database connections and search context.  Fatal on failure, as at
 * start-up nothing is served yet. */
static void
worker_init(struct api_worker *w, unsigned id, int fd)
{
	char serr[SEARCH_ERR_MAX];
	struct evconnlistener *lev;

	w->id = id;
	w->db = db_connect();
	if (id == 0 && PQstatus(w->db) != CONNECTION_OK)
		log_warnx("database: %s(answering 503 until it is back)",
		    PQerrorMessage(w->db));
	if (search_open(&api.conf->search, &w->search, serr,
	    sizeof(serr)) != 0)
		fatalx("search: %s", serr);
	if ((w->base = event_base_new()) == NULL ||
	    (w->http = evhttp_new(w->base)) == NULL)
		fatalx("cannot create the event loop");
	/* Every method reaches the handler, which answers 405 with Allow
	 * for all but GET and HEAD (libevent would say 501). */
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(w->http, HEADERS_MAX);
	evhttp_set_max_body_size(w->http, 0);
	evhttp_set_timeout(w->http, (int)api.conf->request_timeout);
	evhttp_set_gencb(w->http, request_cb, w);
	if (api.ssl_ctx != NULL)
		evhttp_set_bevcb(w->http, tls_bev, api.ssl_ctx);
	/* backlog 0: the socket listens already; not closed on free, the
	 * other workers share it */
	if ((lev = evconnlistener_new(w->base, NULL, NULL, LEV_OPT_REUSEABLE |
	    LEV_OPT_CLOSE_ON_EXEC, 0, fd)) == NULL ||
	    evhttp_bind_listener(w->http, lev) == NULL)
		fatalx("worker %u: cannot accept on %s", id, api.conf->listen);
}

static void *
worker_main(void *arg)
{
	struct api_worker *w = arg;

	event_base_dispatch(w->base);
	return NULL;
}

static void
worker_fini(struct api_worker *w)
{
	if (w->http != NULL)
		evhttp_free(w->http);
	if (w->base != NULL)
		event_base_free(w->base);
	search_close(&w->search);
	PQfinish(w->db);
}

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: crm-api [-c FILE] [--check] [-d] [-h]\n"
	    "  -c, --config FILE  configuration (default $CRM_API_CONFIG, "
	    "else\n"
	    "                     " DEFAULT_CONFIG ")\n"
	    "      --check        validate the configuration, the "
	    "certificate and\n"
	    "                     the database connection, then exit\n"
	    "  -d, --debug        log at debug level\n"
	    "  -h, --help         this text\n");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "debug", no_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("CRM_API_CONFIG");
	char err[CONF_ERR_MAX];
	struct event *sigs[2];
	sigset_t block, old;
	bool check = false, debug = false;
	int ch, fd;

	while ((ch = getopt_long(argc, argv, "c:dh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'k':
			check = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (path == NULL)
		path = DEFAULT_CONFIG;
	log_init("crm-api", false);
	if ((api.conf = api_conf_load(path, err)) == NULL) {
		fprintf(stderr, "crm-api: %s\n", err);
		return 1;
	}
	if (api.conf->cert != NULL && (api.ssl_ctx = tls_server_ctx_new(
	    api.conf->cert, api.conf->key, err, sizeof(err))) == NULL) {
		fprintf(stderr, "crm-api: %s: [api] %s\n", path, err);
		return 1;
	}
	if (check) {
		PGconn *db = db_connect();
		bool ok = PQstatus(db) == CONNECTION_OK;

		if (!ok)
			fprintf(stderr, "crm-api: database: %s",
			    PQerrorMessage(db));
		else
			printf("%s: OK (listen %s, %s, %u worker%s)\n", path,
			    api.conf->listen, api.ssl_ctx != NULL ? "TLS" :
			    "plaintext", api.conf->workers,
			    api.conf->workers == 1 ? "" : "s");
		PQfinish(db);
		SSL_CTX_free(api.ssl_ctx);
		api_conf_free(&api.conf);
		return ok ? 0 : 1;
	}
	log_init("crm-api", api.conf->syslog);
	log_set_level(debug ? LOG_LEVEL_DEBUG : api.conf->log_level);
	signal(SIGPIPE, SIG_IGN);
	/* the main thread stops the workers' loops from its own */
	if (evthread_use_pthreads() != 0)
		fatalx("libevent without thread support");
	if (api.conf->rate_n > 0)
		api.rate = api_rate_new(api.conf->rate_n, api.conf->rate_secs,
		    api.conf->burst, RATE_SLOTS);
	/* A reader of the vector store: crm-index keeps writing it. */
	api.conf->search.vec.read_only = true;
	api.conf->search.vec2.read_only = true;
	if ((fd = net_listen(&api.conf->listen_ss, api.conf->listen_len,
	    LISTEN_BACKLOG)) < 0)
		fatal("cannot listen on %s", api.conf->listen);
	api.nw = api.conf->workers;
	api.w = xcalloc(api.nw, sizeof(*api.w));
	for (unsigned i = 0; i < api.nw; i++)
		worker_init(&api.w[i], i, fd);
	if ((api.base = event_base_new()) == NULL)
		fatalx("cannot create the event loop");
	sigs[0] = evsignal_new(api.base, SIGTERM, on_signal, NULL);
	sigs[1] = evsignal_new(api.base, SIGINT, on_signal, NULL);
	event_add(sigs[0], NULL);
	event_add(sigs[1], NULL);
	/* Signals go to this thread: the workers are started with them
	 * blocked, and inherit that. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (unsigned i = 0; i < api.nw; i++) {
		if ((errno = pthread_create(&api.w[i].thread, NULL,
		    worker_main, &api.w[i])) != 0)
			fatal("cannot start worker %u", i);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	log_info("listening on %s (%s), %u worker%s; rate per token %s, "
	    "bursts of %u", api.conf->listen, api.ssl_ctx != NULL ? "TLS" :
	    "plaintext", api.nw, api.nw == 1 ? "" : "s",
	    api.rate != NULL ? api.conf->rate : "unlimited",
	    api.conf->burst);
	event_base_dispatch(api.base);
	/* every worker was started: a failed start is fatal */
	for (unsigned i = 0; i < api.nw; i++) {
		pthread_join(api.w[i].thread, NULL);
		worker_fini(&api.w[i]);
	}
	free(api.w);
	close(fd);
	event_free(sigs[0]);
	event_free(sigs[1]);
	event_base_free(api.base);
	api_rate_free(&api.rate);
	SSL_CTX_free(api.ssl_ctx);
	api_conf_free(&api.conf);
	log_info("stopped");
	return 0;
}
