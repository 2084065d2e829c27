/* config.c - see config.h. */
#include "proxy/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <openssl/ssl.h>

#include "lib/conf.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"

struct config_ctx {
	struct proxy_conf *conf;
	struct listen_conf *listen;
	struct upstream_conf *upstream;
	struct tenant_conf *tenant;	/* capture */
	/* line of the open section, for errors found at its end */
	int section_line;
	bool route_caldav;	/* inside [route caldav] */
};

/* CalDAV block (end of file). */
static int config_caldav_key(struct caldav_conf *cc, const char *k,
    const char *v, char *err);
static int config_caldav_validate(struct proxy_conf *conf, char *err);

static const char *const tls_mode_names[] = {
	[TLS_MODE_NONE] = "none",
	[TLS_MODE_STARTTLS] = "starttls",
	[TLS_MODE_IMPLICIT] = "implicit",
};

const char *
tls_mode_name(enum tls_mode mode)
{
	return tls_mode_names[mode];
}

static int
config_tls_mode(const char *v, enum tls_mode *mode_r, char *err)
{
	for (unsigned i = 0; i < 3; i++) {
		if (strcasecmp(v, tls_mode_names[i]) == 0) {
			*mode_r = (enum tls_mode)i;
			return 0;
		}
	}
	snprintf(err, CONF_ERR_MAX,
	    "tls = \"%s\": use starttls, implicit or none", v);
	return -1;
}

static int
config_netmask(const char *s, struct netmask *m, char *err)
{
	char buf[64], *slash;
	unsigned max;

	if (strlen(s) >= sizeof(buf)) {
		snprintf(err, CONF_ERR_MAX, "\"%s\": not an address", s);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';
	memset(m, 0, sizeof(*m));
	if (inet_pton(AF_INET, buf,
	    &((struct sockaddr_in *)&m->addr)->sin_addr) == 1) {
		m->addr.ss_family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf,
	    &((struct sockaddr_in6 *)&m->addr)->sin6_addr) == 1) {
		m->addr.ss_family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, CONF_ERR_MAX,
		    "\"%s\": not a numeric address or address/bits", s);
		return -1;
	}
	m->bits = max;
	if (slash != NULL && conf_parse_uint(slash, 0, max, &m->bits, err) !=
	    0)
		return -1;
	return 0;
}

static int
config_trusted(struct listen_conf *lc, const char *v, char *err)
{
	char buf[CONF_LINE_MAX], *tok, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", v);
	lc->ntrusted = 0;
	for (tok = strtok_r(buf, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		if (lc->ntrusted == CONFIG_MAX_TRUSTED) {
			snprintf(err, CONF_ERR_MAX,
			    "more than %d trusted_proxies",
			    CONFIG_MAX_TRUSTED);
			return -1;
		}
		if (config_netmask(tok, &lc->trusted[lc->ntrusted++], err) !=
		    0)
			return -1;
	}
	return 0;
}

static int config_capture_section(struct config_ctx *c, const char *section,
    const char *name, int line, char *err);
static int config_tap_key(struct config_ctx *c, const char *section,
    const char *k, const char *v, char *err);
static int config_route_tenant(struct route_conf *r, char *upstream,
    char *err);
static int config_capture_validate(struct proxy_conf *conf, char *err);
static void config_capture_defaults(struct proxy_conf *conf);
static void config_capture_free(struct proxy_conf *conf);

static int
config_section(struct config_ctx *c, const char *section, const char *name,
    int line, char *err)
{
	struct proxy_conf *conf = c->conf;

	c->listen = NULL;
	c->upstream = NULL;
	c->tenant = NULL;
	c->section_line = line;
	c->route_caldav = strcmp(section, "route") == 0 &&
	    strcmp(name, "caldav") == 0;
	if (strcmp(section, "capture") == 0 || strcmp(section, "tenant") == 0)
		return config_capture_section(c, section, name, line, err);
	if (c->route_caldav) {
		/* [route caldav]: the CalDAV listeners' own routes */
	} else if (strcmp(section, "listen") == 0 ||
	    strcmp(section, "upstream") == 0) {
		if (*name == '\0') {
			snprintf(err, CONF_ERR_MAX,
			    "[%s] needs a name: [%s NAME]", section, section);
			return -1;
		}
	} else if (*name != '\0') {
		snprintf(err, CONF_ERR_MAX, "[%s] takes no name", section);
		return -1;
	}
	if (strcmp(section, "listen") == 0) {
		if (conf->nlisteners == CONFIG_MAX_LISTENERS) {
			snprintf(err, CONF_ERR_MAX, "more than %d listeners",
			    CONFIG_MAX_LISTENERS);
			return -1;
		}
		for (unsigned i = 0; i < conf->nlisteners; i++) {
			if (strcmp(conf->listeners[i].name, name) == 0) {
				snprintf(err, CONF_ERR_MAX,
				    "[listen %s] already defined at line %d",
				    name, conf->listeners[i].line);
				return -1;
			}
		}
		c->listen = &conf->listeners[conf->nlisteners++];
		c->listen->name = xstrdup(name);
		c->listen->line = line;
		c->listen->tls = TLS_MODE_STARTTLS;
	} else if (strcmp(section, "upstream") == 0) {
		if (conf->nupstreams == CONFIG_MAX_UPSTREAMS) {
			snprintf(err, CONF_ERR_MAX, "more than %d upstreams",
			    CONFIG_MAX_UPSTREAMS);
			return -1;
		}
		for (unsigned i = 0; i < conf->nupstreams; i++) {
			if (strcmp(conf->upstreams[i].name, name) == 0) {
				snprintf(err, CONF_ERR_MAX,
				    "[upstream %s] already defined at line %d",
				    name, conf->upstreams[i].line);
				return -1;
			}
		}
		c->upstream = &conf->upstreams[conf->nupstreams++];
		c->upstream->name = xstrdup(name);
		c->upstream->line = line;
		c->upstream->tls = TLS_MODE_IMPLICIT;
		c->upstream->verify = true;
	} else if (strcmp(section, "proxy") != 0 &&
	    strcmp(section, "limits") != 0 && strcmp(section, "route") != 0 &&
	    strcmp(section, "capture") != 0 &&
	    strcmp(section, "caldav") != 0) {
		snprintf(err, CONF_ERR_MAX,
		    "unknown section [%s] (proxy, limits, listen NAME, "
		    "upstream NAME, route, route caldav, capture, caldav)",
		    section);
		return -1;
	}
	return 0;
}

static int
config_proxy_key(struct proxy_conf *conf, const char *k, const char *v,
    char *err)
{
	if (strcmp(k, "workers") == 0)
		return conf_parse_uint(v, 1, 64, &conf->workers, err);
	if (strcmp(k, "user") == 0) {
		free(conf->user);
		conf->user = *v != '\0' ? xstrdup(v) : NULL;
		return 0;
	}
	if (strcmp(k, "log_level") == 0) {
		if (log_level_parse(v, &conf->log_level) != 0) {
			snprintf(err, CONF_ERR_MAX,
			    "log_level = \"%s\": use error, warn, info or "
			    "debug", v);
			return -1;
		}
		return 0;
	}
	if (strcmp(k, "syslog") == 0)
		return conf_parse_bool(v, &conf->syslog, err);
	if (strcmp(k, "splice") == 0)
		return conf_parse_bool(v, &conf->splice, err);
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [proxy]", k);
	return -1;
}

static int
config_limits_key(struct limits_conf *l, const char *k, const char *v,
    char *err)
{
	if (strcmp(k, "line_max") == 0)
		return conf_parse_size(v, 1024, 16 << 20, &l->line_max, err);
	if (strcmp(k, "preauth_literal_max") == 0)
		return conf_parse_size(v, 0, 16 << 20,
		    &l->preauth_literal_max, err);
	if (strcmp(k, "connections_per_ip") == 0)
		return conf_parse_uint(v, 1, 1000000, &l->connections_per_ip,
		    err);
	if (strcmp(k, "connections_per_user") == 0)
		return conf_parse_uint(v, 1, 1000000,
		    &l->connections_per_user, err);
	if (strcmp(k, "preauth_timeout") == 0)
		return conf_parse_duration(v, 1, 3600, &l->preauth_timeout,
		    err);
	if (strcmp(k, "idle_timeout") == 0)
		return conf_parse_duration(v, 60, 86400, &l->idle_timeout,
		    err);
	if (strcmp(k, "connect_timeout") == 0)
		return conf_parse_duration(v, 1, 600, &l->connect_timeout,
		    err);
	if (strcmp(k, "buffer_high") == 0)
		return conf_parse_size(v, 4096, 1 << 30, &l->buffer_high, err);
	if (strcmp(k, "buffer_low") == 0)
		return conf_parse_size(v, 0, 1 << 30, &l->buffer_low, err);
	if (strcmp(k, "auth_failures_max") == 0)
		return conf_parse_uint(v, 1, 100, &l->auth_failures_max, err);
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [limits]", k);
	return -1;
}

static int
config_listen_key(struct listen_conf *lc, const char *k, const char *v,
    char *err)
{
	if (strcmp(k, "address") == 0) {
		free(lc->address);
		lc->address = xstrdup(v);
		return conf_parse_sockaddr(v, &lc->ss, &lc->sslen, err);
	}
	if (strcmp(k, "tls") == 0)
		return config_tls_mode(v, &lc->tls, err);
	if (strcmp(k, "cert") == 0) {
		free(lc->cert);
		lc->cert = xstrdup(v);
		return 0;
	}
	if (strcmp(k, "key") == 0) {
		free(lc->key);
		lc->key = xstrdup(v);
		return 0;
	}
	if (strcmp(k, "allow_plaintext_auth") == 0)
		return conf_parse_bool(v, &lc->allow_plaintext_auth, err);
	if (strcmp(k, "proxy_protocol") == 0)
		return conf_parse_bool(v, &lc->proxy_protocol, err);
	if (strcmp(k, "trusted_proxies") == 0)
		return config_trusted(lc, v, err);
	{
		int r = config_smtp_listen_key(lc, k, v, err);

		if (r != 1)
			return r;
	}
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [listen %s]", k,
	    lc->name);
	return -1;
}

static int
config_upstream_key(struct upstream_conf *u, const char *k, const char *v,
    char *err)
{
	if (strcmp(k, "address") == 0) {
		free(u->address);
		u->address = xstrdup(v);
		return conf_split_hostport(v, u->host, sizeof(u->host),
		    u->port, sizeof(u->port), err);
	}
	if (strcmp(k, "tls") == 0)
		return config_tls_mode(v, &u->tls, err);
	if (strcmp(k, "ca_file") == 0) {
		free(u->ca_file);
		u->ca_file = *v != '\0' ? xstrdup(v) : NULL;
		return 0;
	}
	if (strcmp(k, "verify") == 0)
		return conf_parse_bool(v, &u->verify, err);
	if (strcmp(k, "server_name") == 0) {
		free(u->server_name);
		u->server_name = *v != '\0' ? xstrdup(v) : NULL;
		return 0;
	}
	if (strcmp(k, "forward_client_ip") == 0)
		return conf_parse_bool(v, &u->forward_client_ip, err);
	{
		int r = config_smtp_upstream_key(u, k, v, err);

		if (r != 1)
			return r;
	}
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [upstream %s]", k,
	    u->name);
	return -1;
}

static char *
config_lower(const char *s)
{
	char *p = xstrdup(s);

	for (char *q = p; *q != '\0'; q++)
		*q = (char)tolower((unsigned char)*q);
	return p;
}

static int
config_route_key(struct proxy_conf *conf, const char *k, const char *v,
    int line, bool caldav, char *err)
{
	struct route_conf *r;
	enum route_kind kind;
	const char *match = "";

	if (strcmp(k, "default") == 0) {
		kind = ROUTE_DEFAULT;
	} else if (strncmp(k, "user ", 5) == 0) {
		kind = ROUTE_USER;
		match = k + 5;
	} else if (strncmp(k, "domain ", 7) == 0) {
		kind = ROUTE_DOMAIN;
		match = k + 7;
	} else if (caldav && strncmp(k, "host ", 5) == 0) {
		kind = ROUTE_HOST;
		match = k + 5;
	} else {
		snprintf(err, CONF_ERR_MAX,
		    "route key \"%s\": use \"default\", \"user ADDRESS\" or "
		    "\"domain DOMAIN\"", k);
		return -1;
	}
	while (*match == ' ')
		match++;
	if (kind != ROUTE_DEFAULT && *match == '\0') {
		snprintf(err, CONF_ERR_MAX, "route \"%s\" has nothing to match",
		    k);
		return -1;
	}
	if (conf->nroutes == CONFIG_MAX_ROUTES) {
		snprintf(err, CONF_ERR_MAX, "more than %d routes",
		    CONFIG_MAX_ROUTES);
		return -1;
	}
	for (unsigned i = 0; i < conf->nroutes; i++) {
		if (conf->routes[i].kind == kind &&
		    conf->routes[i].caldav == caldav &&
		    strcasecmp(conf->routes[i].match, match) == 0) {
			snprintf(err, CONF_ERR_MAX,
			    "route \"%s\" already defined at line %d", k,
			    conf->routes[i].line);
			return -1;
		}
	}
	conf->routes = xreallocarray(conf->routes, conf->nroutes + 1,
	    sizeof(*conf->routes));
	r = &conf->routes[conf->nroutes++];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->match = config_lower(match);
	r->upstream_name = xstrdup(v);
	r->line = line;
	r->caldav = caldav;
	return config_route_tenant(r, r->upstream_name, err);
}

static int
config_handler(void *ctx, const char *section, const char *name,
    const char *key, const char *value, int line, char *err)
{
	struct config_ctx *c = ctx;

	if (*key == '\0')
		return config_section(c, section, name, line, err);
	if (*section == '\0') {
		snprintf(err, CONF_ERR_MAX, "\"%s\" outside any [section]",
		    key);
		return -1;
	}
	if (strcmp(section, "proxy") == 0)
		return config_proxy_key(c->conf, key, value, err);
	if (strcmp(section, "limits") == 0)
		return config_limits_key(&c->conf->limits, key, value, err);
	if (strcmp(section, "listen") == 0)
		return config_listen_key(c->listen, key, value, err);
	if (strcmp(section, "upstream") == 0)
		return config_upstream_key(c->upstream, key, value, err);
	if (strcmp(section, "capture") == 0 || strcmp(section, "tenant") == 0)
		return config_tap_key(c, section, key, value, err);
	if (strcmp(section, "caldav") == 0)
		return config_caldav_key(&c->conf->caldav, key, value, err);
	return config_route_key(c->conf, key, value, line, c->route_caldav,
	    err);
}

static int
config_validate(struct proxy_conf *conf, char *err)
{
	const char *path = conf->path;
	struct limits_conf *l = &conf->limits;

	if (conf->nlisteners == 0) {
		snprintf(err, CONF_ERR_MAX,
		    "%s: no [listen NAME] section: nothing to serve", path);
		return -1;
	}
	for (unsigned i = 0; i < conf->nlisteners; i++) {
		struct listen_conf *lc = &conf->listeners[i];

		if (lc->address == NULL) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: [listen %s] has no address", path,
			    lc->line, lc->name);
			return -1;
		}
		if (lc->tls != TLS_MODE_NONE &&
		    (lc->cert == NULL || lc->key == NULL)) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: [listen %s] tls = %s needs cert and key",
			    path, lc->line, lc->name, tls_mode_name(lc->tls));
			return -1;
		}
		if (lc->proxy_protocol && lc->ntrusted == 0) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: [listen %s] proxy_protocol = yes needs "
			    "trusted_proxies (the load balancers' addresses)",
			    path, lc->line, lc->name);
			return -1;
		}
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(conf->listeners[j].address, lc->address) ==
			    0) {
				snprintf(err, CONF_ERR_MAX,
				    "%s:%d: [listen %s] address %s is also "
				    "used by [listen %s]", path, lc->line,
				    lc->name, lc->address,
				    conf->listeners[j].name);
				return -1;
			}
		}
	}
	for (unsigned i = 0; i < conf->nupstreams; i++) {
		struct upstream_conf *u = &conf->upstreams[i];

		if (u->address == NULL && u->smtp_address == NULL) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: [upstream %s] has no address", path,
			    u->line, u->name);
			return -1;
		}
	}
	for (unsigned i = 0; i < conf->nroutes; i++) {
		struct route_conf *r = &conf->routes[i];

		for (unsigned j = 0; j < conf->nupstreams; j++)
			if (strcmp(conf->upstreams[j].name,
			    r->upstream_name) == 0)
				r->upstream = &conf->upstreams[j];
		if (r->upstream == NULL) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: route to unknown upstream \"%s\"", path,
			    r->line, r->upstream_name);
			return -1;
		}
	}
	if (config_caldav_validate(conf, err) != 0)
		return -1;
	if (l->buffer_low >= l->buffer_high) {
		snprintf(err, CONF_ERR_MAX,
		    "%s: [limits] buffer_low (%llu) must be below buffer_high "
		    "(%llu)", path, (unsigned long long)l->buffer_low,
		    (unsigned long long)l->buffer_high);
		return -1;
	}
	if (config_capture_validate(conf, err) != 0)
		return -1;
	return config_smtp_validate(conf, err);
}

struct proxy_conf *
config_load(const char *path, char *err)
{
	struct proxy_conf *conf = xcalloc(1, sizeof(*conf));
	struct config_ctx c = { .conf = conf };

	conf->path = xstrdup(path);
	conf->workers = 2;
	conf->log_level = LOG_LEVEL_INFO;
	conf->splice = true;
	conf->limits = (struct limits_conf){
		.line_max = 64 * 1024,
		.preauth_literal_max = 64 * 1024,
		.connections_per_ip = 100,
		.connections_per_user = 50,
		.preauth_timeout = 60,
		.idle_timeout = 30 * 60,
		.connect_timeout = 10,
		.buffer_high = 256 * 1024,
		.buffer_low = 64 * 1024,
		.auth_failures_max = 3,
	};
	conf->caldav = (struct caldav_conf){
		.object_max = 1 << 20,
		.seen_entries = 65536,
		.idle_timeout = 300,
		.head_max = 64 * 1024,
	};
	config_capture_defaults(conf);
	if (conf_parse_file(path, config_handler, &c, err) != 0 ||
	    config_validate(conf, err) != 0) {
		config_free(&conf);
		return NULL;
	}
	return conf;
}

int
config_load_tls(struct proxy_conf *conf, char *err)
{
	char msg[CONF_ERR_MAX];

	for (unsigned i = 0; i < conf->nlisteners; i++) {
		struct listen_conf *lc = &conf->listeners[i];

		if (lc->tls == TLS_MODE_NONE)
			continue;
		lc->ssl_ctx = tls_server_ctx_new(lc->cert, lc->key, msg,
		    sizeof(msg));
		if (lc->ssl_ctx == NULL) {
			snprintf(err, CONF_ERR_MAX, "%s:%d: [listen %s] %s",
			    conf->path, lc->line, lc->name, msg);
			return -1;
		}
	}
	for (unsigned i = 0; i < conf->nupstreams; i++) {
		struct upstream_conf *u = &conf->upstreams[i];

		/* One client context serves both protocols: it holds only
		 * the trust anchors; names are checked per connection. */
		if (u->tls == TLS_MODE_NONE && (u->smtp_address == NULL ||
		    u->smtp_tls == TLS_MODE_NONE))
			continue;
		u->ssl_ctx = tls_client_ctx_new(u->ca_file, u->verify, msg,
		    sizeof(msg));
		if (u->ssl_ctx == NULL) {
			snprintf(err, CONF_ERR_MAX, "%s:%d: [upstream %s] %s",
			    conf->path, u->line, u->name, msg);
			return -1;
		}
	}
	return 0;
}

void
config_free(struct proxy_conf **confp)
{
	struct proxy_conf *conf = *confp;

	if (conf == NULL)
		return;
	for (unsigned i = 0; i < conf->nlisteners; i++) {
		struct listen_conf *lc = &conf->listeners[i];

		free(lc->name);
		free(lc->address);
		free(lc->cert);
		free(lc->key);
		SSL_CTX_free(lc->ssl_ctx);
	}
	for (unsigned i = 0; i < conf->nupstreams; i++) {
		struct upstream_conf *u = &conf->upstreams[i];

		free(u->name);
		free(u->address);
		free(u->ca_file);
		free(u->server_name);
		SSL_CTX_free(u->ssl_ctx);
	}
	for (unsigned i = 0; i < conf->nroutes; i++) {
		free(conf->routes[i].match);
		free(conf->routes[i].upstream_name);
		free(conf->routes[i].tenant);
	}
	free(conf->routes);
	config_capture_free(conf);
	config_smtp_free(conf);
	free(conf->user);
	free(conf->path);
	x_free(confp);
}

const struct upstream_conf *
config_route(const struct proxy_conf *conf, const char *user)
{
	const struct route_conf *dflt = NULL, *dom = NULL;
	const char *at = strrchr(user, '@');

	for (unsigned i = 0; i < conf->nroutes; i++) {
		const struct route_conf *r = &conf->routes[i];

		if (r->caldav)
			continue;
		switch (r->kind) {
		case ROUTE_USER:
			if (strcasecmp(r->match, user) == 0)
				return r->upstream;
			break;
		case ROUTE_DOMAIN:
			if (at != NULL && strcasecmp(r->match, at + 1) == 0)
				dom = r;
			break;
		case ROUTE_DEFAULT:
			dflt = r;
			break;
		case ROUTE_HOST:
			break;
		}
	}
	if (dom != NULL)
		return dom->upstream;
	return dflt != NULL ? dflt->upstream : NULL;
}

bool
config_trusted_proxy(const struct listen_conf *lc, const struct sockaddr *sa)
{
	for (unsigned i = 0; i < lc->ntrusted; i++) {
		const struct netmask *m = &lc->trusted[i];
		const unsigned char *a, *b;
		unsigned bits = m->bits;

		if (m->addr.ss_family != sa->sa_family)
			continue;
		if (sa->sa_family == AF_INET) {
			a = (const unsigned char *)&((const struct sockaddr_in *)
			    sa)->sin_addr;
			b = (const unsigned char *)&((const struct sockaddr_in *)
			    &m->addr)->sin_addr;
		} else {
			a = (const unsigned char *)&((const struct sockaddr_in6
			    *)sa)->sin6_addr;
			b = (const unsigned char *)&((const struct sockaddr_in6
			    *)&m->addr)->sin6_addr;
		}
		if (memcmp(a, b, bits / 8) != 0)
			continue;
		if (bits % 8 != 0) {
			unsigned char mask = (unsigned char)(0xff << (8 -
			    bits % 8));

			if ((a[bits / 8] & mask) != (b[bits / 8] & mask))
				continue;
		}
		return true;
	}
	return false;
}

/* ---- SMTP submission and capture ------------------------------------
 *
 *   [listen NAME]    protocol = imap | smtp
 *                    smtp_capabilities = PIPELINING, SIZE 35882577, ...
 *   [upstream NAME]  smtp_address = smtp.example.com:465
 *                    smtp_tls = implicit | starttls | none  (implicit)
 *                    smtp_server_name = NAME   (SNI + certificate name)
 *   [capture]        spool_dir = /var/spool/crm-proxy
 *                    tenant = acme                          (default)
 *                    spool_max = 1g, payload_max = 64m
 *
 * An SMTP user is routed by the same [route] table as IMAP and goes to the
 * chosen upstream's smtp_address: one provider, one section.
 */

/* What the proxy itself manages may not be listed: STARTTLS and AUTH
 * follow the listener's TLS state, CHUNKING/BINARYMIME are never relayed. */
static const char *const config_smtp_caps_managed[] = { "STARTTLS", "AUTH",
	"CHUNKING", "BINARYMIME", NULL };

static int
config_smtp_caps(struct listen_conf *lc, const char *v, char *err)
{
	char buf[CONF_LINE_MAX], *tok, *save = NULL, *out;
	size_t len = 0;

	snprintf(buf, sizeof(buf), "%s", v);
	out = xmalloc(strlen(v) + 1);
	for (tok = strtok_r(buf, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		size_t n, kw;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		n = strlen(tok);
		while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
			tok[--n] = '\0';
		if (n == 0)
			continue;
		kw = strcspn(tok, " =");
		for (unsigned i = 0; config_smtp_caps_managed[i] != NULL; i++) {
			if (strlen(config_smtp_caps_managed[i]) == kw &&
			    strncasecmp(tok, config_smtp_caps_managed[i], kw) ==
			    0) {
				snprintf(err, CONF_ERR_MAX, "smtp_capabilities: "
				    "%s is managed by the proxy", tok);
				free(out);
				return -1;
			}
		}
		for (size_t i = 0; i < n; i++) {
			if ((unsigned char)tok[i] < 0x20 ||
			    (unsigned char)tok[i] > 0x7e) {
				snprintf(err, CONF_ERR_MAX, "smtp_capabilities: "
				    "\"%s\" is not printable ASCII", tok);
				free(out);
				return -1;
			}
		}
		if (len > 0)
			out[len++] = '\n';
		memcpy(out + len, tok, n);
		len += n;
	}
	out[len] = '\0';
	free(lc->smtp_capabilities);
	lc->smtp_capabilities = out;
	return 0;
}

int
config_smtp_listen_key(struct listen_conf *lc, const char *k, const char *v,
    char *err)
{
	if (strcmp(k, "smtp_capabilities") == 0)
		return config_smtp_caps(lc, v, err);
	if (strcmp(k, "protocol") != 0)
		return 1;
	if (strcasecmp(v, "imap") == 0) {
		lc->protocol = LISTEN_IMAP;
	} else if (strcasecmp(v, "smtp") == 0) {
		lc->protocol = LISTEN_SMTP;
	} else if (strcasecmp(v, "caldav") == 0) {
		lc->protocol = LISTEN_CALDAV;
	} else {
		snprintf(err, CONF_ERR_MAX,
		    "protocol = \"%s\": use imap, smtp or caldav", v);
		return -1;
	}
	return 0;
}

int
config_smtp_upstream_key(struct upstream_conf *u, const char *k,
    const char *v, char *err)
{
	if (strcmp(k, "smtp_address") == 0) {
		free(u->smtp_address);
		u->smtp_address = xstrdup(v);
		return conf_split_hostport(v, u->smtp_host,
		    sizeof(u->smtp_host), u->smtp_port, sizeof(u->smtp_port),
		    err);
	}
	if (strcmp(k, "smtp_tls") == 0) {
		/* Remembered: the default (implicit) applies only when
		 * smtp_tls is absent. */
		if (config_tls_mode(v, &u->smtp_tls, err) != 0) {
			snprintf(err, CONF_ERR_MAX, "smtp_tls = \"%s\": use "
			    "implicit, starttls or none", v);
			return -1;
		}
		u->smtp_tls_set = true;
		return 0;
	}
	if (strcmp(k, "smtp_server_name") == 0) {
		free(u->smtp_server_name);
		u->smtp_server_name = *v != '\0' ? xstrdup(v) : NULL;
		return 0;
	}
	return 1;
}

int
config_capture_key(struct capture_conf *c, const char *k, const char *v,
    char *err)
{
	if (strcmp(k, "spool_dir") == 0) {
		free(c->spool_dir);
		c->spool_dir = *v != '\0' ? xstrdup(v) : NULL;
		return 0;
	}
	if (strcmp(k, "tenant") == 0) {
		if (*v == '\0' || strchr(v, '/') != NULL) {
			snprintf(err, CONF_ERR_MAX,
			    "tenant = \"%s\": must be non-empty, without '/'",
			    v);
			return -1;
		}
		free(c->tenant);
		c->tenant = xstrdup(v);
		return 0;
	}
	if (strcmp(k, "spool_max") == 0)
		return conf_parse_size(v, 0, (uint64_t)1 << 50, &c->spool_max,
		    err);
	if (strcmp(k, "payload_max") == 0)
		return conf_parse_size(v, 1024, 64ULL << 20, &c->payload_max,
		    err);
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [capture]", k);
	return -1;
}

int
config_smtp_validate(struct proxy_conf *conf, char *err)
{
	struct capture_conf *c = &conf->capture;

	for (unsigned i = 0; i < conf->nupstreams; i++) {
		struct upstream_conf *u = &conf->upstreams[i];

		if (u->smtp_address != NULL && !u->smtp_tls_set)
			u->smtp_tls = TLS_MODE_IMPLICIT;
	}
	if (c->tenant == NULL)
		c->tenant = xstrdup("default");
	if (c->payload_max == 0)
		c->payload_max = 64ULL << 20;
	(void)err;
	return 0;
}

void
config_smtp_free(struct proxy_conf *conf)
{
	for (unsigned i = 0; i < conf->nlisteners; i++)
		free(conf->listeners[i].smtp_capabilities);
	for (unsigned i = 0; i < conf->nupstreams; i++) {
		free(conf->upstreams[i].smtp_address);
		free(conf->upstreams[i].smtp_server_name);
	}
	free(conf->capture.spool_dir);
	free(conf->capture.tenant);
}

/* ---- CalDAV: [caldav], [route caldav], protocol = caldav ------------ */

static int
config_caldav_key(struct caldav_conf *cc, const char *k, const char *v,
    char *err)
{
	if (strcmp(k, "object_max") == 0)
		return conf_parse_size(v, 1024, 16 << 20, &cc->object_max, err);
	if (strcmp(k, "seen_entries") == 0)
		return conf_parse_uint(v, 0, 1 << 22, &cc->seen_entries, err);
	if (strcmp(k, "idle_timeout") == 0)
		return conf_parse_duration(v, 5, 86400, &cc->idle_timeout, err);
	if (strcmp(k, "head_max") == 0)
		return conf_parse_size(v, 4096, 1 << 20, &cc->head_max, err);
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [caldav] "
	    "(tenant and spool_dir are [capture]'s)", k);
	return -1;
}

static int
config_caldav_validate(struct proxy_conf *conf, char *err)
{
	bool mail = false, caldav = false, mail_route = false,
	    caldav_route = false;

	for (unsigned i = 0; i < conf->nlisteners; i++) {
		struct listen_conf *lc = &conf->listeners[i];

		if (lc->protocol != LISTEN_CALDAV) {
			mail = true;	/* IMAP and SMTP share [route] */
			continue;
		}
		caldav = true;
		if (lc->tls == TLS_MODE_STARTTLS) {
			/* HTTP has no STARTTLS: a listener left at the IMAP
			 * default must say what it means. */
			snprintf(err, CONF_ERR_MAX, "%s:%d: [listen %s] "
			    "protocol = caldav needs tls = implicit (or none "
			    "for loopback tests)", conf->path, lc->line,
			    lc->name);
			return -1;
		}
	}
	for (unsigned i = 0; i < conf->nroutes; i++) {
		if (conf->routes[i].caldav)
			caldav_route = true;
		else
			mail_route = true;
	}
	if ((mail || !caldav) && !mail_route) {
		snprintf(err, CONF_ERR_MAX,
		    "%s: no [route]: add \"default = UPSTREAM\"", conf->path);
		return -1;
	}
	if (caldav && !caldav_route) {
		snprintf(err, CONF_ERR_MAX, "%s: CalDAV listeners but no "
		    "[route caldav]: add \"default = UPSTREAM\"", conf->path);
		return -1;
	}
	return 0;
}

const struct upstream_conf *
config_route_caldav(const struct proxy_conf *conf, const char *user,
    const char *host)
{
	const struct route_conf *dflt = NULL, *dom = NULL, *byhost = NULL;
	const char *at = user != NULL ? strrchr(user, '@') : NULL;

	for (unsigned i = 0; i < conf->nroutes; i++) {
		const struct route_conf *r = &conf->routes[i];

		if (!r->caldav)
			continue;
		switch (r->kind) {
		case ROUTE_USER:
			if (user != NULL && strcasecmp(r->match, user) == 0)
				return r->upstream;
			break;
		case ROUTE_DOMAIN:
			if (at != NULL && strcasecmp(r->match, at + 1) == 0)
				dom = r;
			break;
		case ROUTE_HOST:
			if (host != NULL && strcasecmp(r->match, host) == 0)
				byhost = r;
			break;
		case ROUTE_DEFAULT:
			dflt = r;
			break;
		}
	}
	if (dom != NULL)
		return dom->upstream;
	if (byhost != NULL)
		return byhost->upstream;
	return dflt != NULL ? dflt->upstream : NULL;
}

/* ---- IMAP capture tap: [capture], [tenant NAME], route "tenant=" ----
 *
 * Kept in one block so the listeners' and routes' code above stays as it
 * was.  [capture] (shared with the SMTP tap, whose keys are handled by
 * config_capture_key() above) says whether and where workers spool tapped
 * messages;
 * [tenant NAME] holds one tenant's edge policy (tap_policy.h); a route's
 * value may end in "tenant=NAME" to put its users in that tenant.
 */

static bool
config_tenant_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 64)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("._-", *p) == NULL)
			return false;
	return true;
}

static void
config_capture_defaults(struct proxy_conf *conf)
{
	/* spool_dir, tenant, spool_max, payload_max: config_capture_key()
	 * and config_smtp_validate() */
	conf->capture.enabled = true;
	conf->capture.segment_size = 64ULL << 20;
	conf->capture.header_max = 64 * 1024;
	conf->capture.writers_max = 16;
	conf->capture.stage_size = 16ULL << 20;
	conf->capture.metrics_interval = 10;
}

static int
config_capture_section(struct config_ctx *c, const char *section,
    const char *name, int line, char *err)
{
	struct proxy_conf *conf = c->conf;
	struct tenant_conf *t;

	if (strcmp(section, "capture") == 0) {
		if (*name != '\0') {
			snprintf(err, CONF_ERR_MAX, "[capture] takes no name");
			return -1;
		}
		return 0;
	}
	if (!config_tenant_name_ok(name)) {
		snprintf(err, CONF_ERR_MAX, "[tenant %s]: a tenant name is "
		    "1-64 of A-Z a-z 0-9 . _ -", name);
		return -1;
	}
	for (unsigned i = 0; i < conf->ntenants; i++) {
		if (strcmp(conf->tenants[i].name, name) == 0) {
			snprintf(err, CONF_ERR_MAX,
			    "[tenant %s] already defined at line %d", name,
			    conf->tenants[i].line);
			return -1;
		}
	}
	if (conf->ntenants == CONFIG_MAX_TENANTS) {
		snprintf(err, CONF_ERR_MAX, "more than %d tenants",
		    CONFIG_MAX_TENANTS);
		return -1;
	}
	conf->tenants = xreallocarray(conf->tenants, conf->ntenants + 1,
	    sizeof(*conf->tenants));
	t = &conf->tenants[conf->ntenants++];
	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	t->line = line;
	c->tenant = t;
	return 0;
}

static int
config_list(struct tap_list *l, const char *k, const char *v, char *err)
{
	const char *why = NULL;

	tap_list_free(l);
	if (tap_list_parse(l, v, &why) != 0) {
		snprintf(err, CONF_ERR_MAX, "%s: %s", k, why);
		return -1;
	}
	return 0;
}

/* [capture] keys of the IMAP tap, then the shared ones
 * (config_capture_key(), above); [tenant NAME] keys. */
static int
config_tap_key(struct config_ctx *c, const char *section, const char *k,
    const char *v, char *err)
{
	struct capture_conf *cc = &c->conf->capture;
	struct tap_policy *p;

	if (strcmp(section, "capture") == 0) {
		if (strcmp(k, "enabled") == 0)
			return conf_parse_bool(v, &cc->enabled, err);
		if (strcmp(k, "spool_dir") == 0 && *v != '\0' && *v != '/') {
			snprintf(err, CONF_ERR_MAX,
			    "spool_dir must be an absolute path");
			return -1;
		}
		if (strcmp(k, "segment_size") == 0)
			return conf_parse_size(v, 64 * 1024, 1ULL << 32,
			    &cc->segment_size, err);
		if (strcmp(k, "header_max") == 0)
			return conf_parse_size(v, 1024, 1 << 20,
			    &cc->header_max, err);
		if (strcmp(k, "writers") == 0)
			return conf_parse_uint(v, 1, 64, &cc->writers_max, err);
		if (strcmp(k, "stage_dir") == 0) {
			struct stat sb;

			if (*v != '\0' && (*v != '/' || stat(v, &sb) != 0 ||
			    !S_ISDIR(sb.st_mode))) {
				snprintf(err, CONF_ERR_MAX, "stage_dir = \"%s\": "
				    "must be an existing directory, given as an "
				    "absolute path (a tmpfs such as /dev/shm)",
				    v);
				return -1;
			}
			free(cc->stage_dir);
			cc->stage_dir = *v != '\0' ? xstrdup(v) : NULL;
			return 0;
		}
		if (strcmp(k, "stage_size") == 0) {
			if (conf_parse_size(v, 4ULL << 20, 4ULL << 30,
			    &cc->stage_size, err) != 0)
				return -1;
			if (cc->stage_size % (4ULL << 20) != 0) {
				snprintf(err, CONF_ERR_MAX,
				    "stage_size must be a multiple of 4m");
				return -1;
			}
			return 0;
		}
		if (strcmp(k, "tenant") == 0 || strcmp(k, "default_tenant") ==
		    0) {
			if (!config_tenant_name_ok(v)) {
				snprintf(err, CONF_ERR_MAX, "%s = \"%s\": 1-64 "
				    "of A-Z a-z 0-9 . _ -", k, v);
				return -1;
			}
			free(cc->tenant);
			cc->tenant = xstrdup(v);
			return 0;
		}
		if (strcmp(k, "metrics_file") == 0) {
			free(cc->metrics_file);
			cc->metrics_file = *v != '\0' ? xstrdup(v) : NULL;
			return 0;
		}
		if (strcmp(k, "metrics_interval") == 0)
			return conf_parse_duration(v, 1, 3600,
			    &cc->metrics_interval, err);
		return config_capture_key(cc, k, v, err);
	}
	p = &c->tenant->policy;
	if (strcmp(k, "domains") == 0)
		return config_list(&p->domains, k, v, err);
	if (strcmp(k, "block_addresses") == 0)
		return config_list(&p->block_addresses, k, v, err);
	if (strcmp(k, "block_domains") == 0)
		return config_list(&p->block_domains, k, v, err);
	if (strcmp(k, "freemail_domains") == 0)
		return config_list(&p->freemail, k, v, err);
	if (strcmp(k, "folders") == 0)
		return config_list(&p->folders, k, v, err);
	if (strcmp(k, "skip_freemail") == 0)
		return conf_parse_bool(v, &p->skip_freemail, err);
	if (strcmp(k, "skip_internal") == 0)
		return conf_parse_bool(v, &p->skip_internal, err);
	if (strcmp(k, "header_only") == 0)
		return conf_parse_bool(v, &p->header_only, err);
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [tenant %s]", k,
	    c->tenant->name);
	return -1;
}

/* "UPSTREAM [tenant=NAME]": cuts the tenant off the upstream name. */
static int
config_route_tenant(struct route_conf *r, char *upstream, char *err)
{
	char *sp = strpbrk(upstream, " \t"), *t;

	if (sp == NULL)
		return 0;
	*sp++ = '\0';
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (strncmp(sp, "tenant=", 7) != 0) {
		snprintf(err, CONF_ERR_MAX, "route value \"%s %s\": use "
		    "\"UPSTREAM\" or \"UPSTREAM tenant=NAME\"", upstream, sp);
		return -1;
	}
	t = sp + 7;
	t[strcspn(t, " \t")] = '\0';
	if (!config_tenant_name_ok(t)) {
		snprintf(err, CONF_ERR_MAX, "route tenant \"%s\": 1-64 of "
		    "A-Z a-z 0-9 . _ -", t);
		return -1;
	}
	r->tenant = xstrdup(t);
	return 0;
}

static int
config_capture_validate(struct proxy_conf *conf, char *err)
{
	for (unsigned i = 0; i < conf->nroutes; i++) {
		const struct route_conf *r = &conf->routes[i];

		if (r->tenant != NULL && conf->ntenants > 0 &&
		    config_tenant_conf(conf, r->tenant) == NULL) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: route to tenant \"%s\" which has no "
			    "[tenant %s] section", conf->path, r->line,
			    r->tenant, r->tenant);
			return -1;
		}
	}
	return 0;
}

static void
config_capture_free(struct proxy_conf *conf)
{
	for (unsigned i = 0; i < conf->ntenants; i++) {
		free(conf->tenants[i].name);
		tap_policy_fini(&conf->tenants[i].policy);
	}
	free(conf->tenants);
	/* spool_dir and tenant: config_smtp_free() */
	free(conf->capture.metrics_file);
	free(conf->capture.stage_dir);
}

const struct tenant_conf *
config_tenant_conf(const struct proxy_conf *conf, const char *tenant)
{
	for (unsigned i = 0; i < conf->ntenants; i++)
		if (strcmp(conf->tenants[i].name, tenant) == 0)
			return &conf->tenants[i];
	return NULL;
}
