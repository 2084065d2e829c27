/*
 * config.h - crm-proxy's configuration: loading, validation, lookup.
 *
 * A configuration is immutable once loaded.  Workers get the one that was
 * current when they were forked; a reload (SIGHUP) builds a new one and new
 * workers, so a live session never sees its settings change underneath it.
 */
#ifndef CRM_PROXY_CONFIG_H
#define CRM_PROXY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "proxy/tap_policy.h"

#define CONFIG_MAX_LISTENERS 32
#define CONFIG_MAX_UPSTREAMS 256
#define CONFIG_MAX_ROUTES 4096
#define CONFIG_MAX_TRUSTED 32

enum tls_mode {
	TLS_MODE_NONE,
	TLS_MODE_STARTTLS,
	TLS_MODE_IMPLICIT,
};

struct netmask {
	struct sockaddr_storage addr;
	unsigned bits;
};

enum listen_protocol {
	LISTEN_IMAP,
	LISTEN_SMTP,		/* submission (587 STARTTLS / 465 implicit) */
	LISTEN_CALDAV,		/* HTTPS; caldav.c */
};

struct listen_conf {
	char *name;
	enum listen_protocol protocol;
	int line;
	char *address;
	struct sockaddr_storage ss;
	socklen_t sslen;
	enum tls_mode tls;
	char *cert, *key;
	bool allow_plaintext_auth;
	bool proxy_protocol;
	struct netmask trusted[CONFIG_MAX_TRUSTED];
	unsigned ntrusted;
	void *ssl_ctx;		/* SSL_CTX *, loaded by config_load_tls() */
	/* SMTP: the extensions offered before AUTH, "KW[ args]" items
	 * separated by "\n"; NULL: the built-in set (config.c). */
	char *smtp_capabilities;
};

struct upstream_conf {
	char *name;
	int line;
	char *address;		/* as written */
	char host[256], port[8];
	enum tls_mode tls;
	char *ca_file;
	bool verify;
	char *server_name;	/* SNI + name check; defaults to host */
	bool forward_client_ip;
	void *ssl_ctx;		/* SSL_CTX *, client side */
	/* SMTP submission at the same provider (config.c, SMTP block). */
	char *smtp_address;	/* NULL: no submission for this upstream */
	char smtp_host[256], smtp_port[8];
	enum tls_mode smtp_tls;
	bool smtp_tls_set;
	char *smtp_server_name;	/* defaults to smtp_host */
};

enum route_kind {
	ROUTE_USER,
	ROUTE_DOMAIN,
	ROUTE_DEFAULT,
	ROUTE_HOST,		/* [route caldav] only: by the Host field */
};

struct route_conf {
	enum route_kind kind;
	char *match;		/* lower-cased address or domain */
	char *upstream_name;
	struct upstream_conf *upstream;
	int line;
	bool caldav;		/* from [route caldav] */
	char *tenant;		/* capture: "UPSTREAM tenant=NAME"; NULL */
};

struct limits_conf {
	uint64_t line_max;
	uint64_t preauth_literal_max;
	unsigned connections_per_ip;
	unsigned connections_per_user;
	unsigned preauth_timeout;
	unsigned idle_timeout;
	unsigned connect_timeout;
	uint64_t buffer_high;
	uint64_t buffer_low;
	unsigned auth_failures_max;
};

/* ---- capture ([capture], [tenant NAME]; docs/capture.md) ---- */
#define CONFIG_MAX_TENANTS 256

struct tenant_conf {
	char *name;
	int line;
	struct tap_policy policy;
};

/* [caldav]: the CalDAV listeners' own settings; their tap spools into
 * [capture]'s directory with its own writer per worker. */
struct caldav_conf {
	uint64_t object_max;	/* largest calendar object the tap keeps */
	unsigned seen_entries;	/* shared de-duplication table slots */
	unsigned idle_timeout;	/* seconds without traffic either way */
	uint64_t head_max;	/* request/response head */
};
struct capture_conf {
	bool enabled;		/* "enabled = no" turns every tap off */
	char *spool_dir;	/* NULL: no capture */
	char *tenant;		/* default tenant (routes may name their own) */
	uint64_t spool_max;	/* 0: no limit */
	uint64_t segment_size;
	uint64_t payload_max;
	uint64_t header_max;	/* IMAP tap: header bytes for the policy */
	unsigned writers_max;	/* IMAP tap: spool writers per worker */
	char *stage_dir;	/* IMAP tap: staged writes; NULL: plain */
	uint64_t stage_size;	/* ring bytes per staged writer */
	char *metrics_file;	/* Prometheus text, rewritten; NULL: off */
	unsigned metrics_interval;
};
/* ---- end capture ---- */

struct proxy_conf {
	char *path;
	struct capture_conf capture;
	unsigned workers;
	char *user;
	enum log_level log_level;
	bool syslog;
	bool splice;		/* literal data between plaintext sides */
	struct limits_conf limits;
	struct listen_conf listeners[CONFIG_MAX_LISTENERS];
	unsigned nlisteners;
	struct upstream_conf upstreams[CONFIG_MAX_UPSTREAMS];
	unsigned nupstreams;
	struct route_conf *routes;
	unsigned nroutes;
	struct caldav_conf caldav;
	struct tenant_conf *tenants;
	unsigned ntenants;
};

/*
 * Loads and validates path.  Returns a new configuration, or NULL with
 * "file:line: message" in err (CONF_ERR_MAX bytes).  TLS material is not
 * touched; see config_load_tls().
 */
struct proxy_conf *config_load(const char *path, char *err);

/* Loads certificates, keys and CA files into SSL contexts.  Returns 0, or -1
 * with "file:line: message" in err. */
int config_load_tls(struct proxy_conf *conf, char *err);

void config_free(struct proxy_conf **confp);

/* The upstream for user ("alice@example.com" or "alice"): a user route, then
 * the domain's route, then the default.  NULL if nothing matches. */
const struct upstream_conf *config_route(const struct proxy_conf *conf,
    const char *user);

/* CalDAV: the upstream for an authenticated user (NULL when the client
 * sent none, e.g. a Bearer token) and/or the request's Host (without
 * port; may be NULL): [route caldav] user, domain, host, default. */
const struct upstream_conf *config_route_caldav(const struct proxy_conf *conf,
    const char *user, const char *host);

bool config_trusted_proxy(const struct listen_conf *lc,
    const struct sockaddr *sa);

const char *tls_mode_name(enum tls_mode mode);

/* Capture: the tenant of user (its route's tenant=, else
 * [capture] default_tenant), and that tenant's [tenant NAME] section (NULL
 * when it has none: no policy, everything captured). */
const char *config_tenant(const struct proxy_conf *conf, const char *user);
/* The same for a CalDAV user: their [route caldav] user, domain or default
 * route's tenant, else [capture] tenant. */
const char *config_tenant_caldav(const struct proxy_conf *conf,
    const char *user);
const struct tenant_conf *config_tenant_conf(const struct proxy_conf *conf,
    const char *tenant);
/* SMTP / capture keys (the separate block at the end of config.c).  Return
 * 1 when the key is not theirs, else 0 or -1 with err. */
int config_smtp_listen_key(struct listen_conf *lc, const char *k,
    const char *v, char *err);
int config_smtp_upstream_key(struct upstream_conf *u, const char *k,
    const char *v, char *err);
int config_capture_key(struct capture_conf *c, const char *k, const char *v,
    char *err);
int config_smtp_validate(struct proxy_conf *conf, char *err);
void config_smtp_free(struct proxy_conf *conf);

#endif
