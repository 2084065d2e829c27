/* index_conf.c - see index_conf.h. */
#include "enrich/index/index_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf.h"
#include "lib/xmalloc.h"

static int
add_tenant(struct index_conf *c, const char *name, char *err)
{
	if (!vec_tenant_valid(name)) {
		snprintf(err, CONF_ERR_MAX, "tenants: \"%s\" is not a tenant "
		    "id ([A-Za-z0-9_-], 1..%d bytes)", name, VEC_TENANT_MAX);
		return -1;
	}
	for (unsigned i = 0; i < c->ntenants; i++)
		if (strcmp(c->tenants[i], name) == 0)
			return 0;
	if (c->ntenants == INDEX_TENANTS_MAX) {
		snprintf(err, CONF_ERR_MAX, "more than %d tenants",
		    INDEX_TENANTS_MAX);
		return -1;
	}
	c->tenants[c->ntenants++] = xstrdup(name);
	return 0;
}

static int
set_tenants(struct index_conf *c, const char *v, char *err)
{
	char *copy = xstrdup(v), *tok, *save = NULL;
	int rc = 0;

	for (tok = strtok_r(copy, " ,\t", &save); rc == 0 && tok != NULL;
	    tok = strtok_r(NULL, " ,\t", &save))
		rc = add_tenant(c, tok, err);
	free(copy);
	return rc;
}

static int
handler(void *ctx, const char *section, const char *name, const char *key,
    const char *value, int line, char *err)
{
	static const char *const sections[] = { "embed", "vector",
	    "embed2", "vector2", "database", "index", "log", NULL };
	struct index_conf *c = ctx;

	(void)line;
	if (*key == '\0') {
		(void)search_config_open(&c->search, section);
		return conf_section_plain(section, name, sections, err);
	}
	if (search_config_section(section))
		return search_config_set(&c->search, section, key, value,
		    err);
	if (strcmp(section, "index") == 0) {
		if (strcmp(key, "batch") == 0)
			return conf_parse_uint(value, 1, INDEX_BATCH_MAX,
			    &c->batch, err);
		if (strcmp(key, "batch_bytes") == 0)
			return conf_parse_size(value, 1024, 64u << 20,
			    &c->batch_bytes, err);
		if (strcmp(key, "poll_interval") == 0)
			return conf_parse_duration(value, 1, 86400,
			    &c->poll_interval, err);
		if (strcmp(key, "max_attempts") == 0)
			return conf_parse_uint(value, 1, 1000,
			    &c->max_attempts, err);
		if (strcmp(key, "retry_initial_ms") == 0)
			return conf_parse_uint(value, 10, 60000,
			    &c->retry_initial_ms, err);
		if (strcmp(key, "retry_max_ms") == 0)
			return conf_parse_uint(value, 10, 600000,
			    &c->retry_max_ms, err);
		if (strcmp(key, "tenants") == 0)
			return set_tenants(c, value, err);
		if (strcmp(key, "tenants_file") == 0) {
			free(c->tenants_file);
			c->tenants_file = xstrdup(value);
			return 0;
		}
	}
	return conf_log_or_unknown(section, key, value, &c->log_level,
	    &c->syslog, err);
}

struct index_conf *
index_conf_load(const char *path, char *err)
{
	struct index_conf *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	search_config_init(&c->search);
	c->batch = 32;
	c->batch_bytes = 32 * 1024;
	c->poll_interval = 30;
	c->max_attempts = 5;
	c->retry_initial_ms = 200;
	c->retry_max_ms = 30000;
	c->log_level = LOG_LEVEL_INFO;
	if (conf_parse_file(path, handler, c, err) != 0 ||
	    search_config_check(&c->search, path, err, CONF_ERR_MAX) != 0) {
		index_conf_free(&c);
		return NULL;
	}
	/* With the embedded store the data dir is the daemon's own; a tenant
	 * id never starts with '.', so the name cannot meet a tenant's. */
	if (c->tenants_file == NULL && c->search.vec.backend ==
	    VEC_BACKEND_LOCAL)
		c->tenants_file = xasprintf("%s/.crm-index-tenants",
		    c->search.vec.data_dir);
	if (c->retry_max_ms < c->retry_initial_ms) {
		snprintf(err, CONF_ERR_MAX, "%s: [index] retry_max_ms is "
		    "below retry_initial_ms", path);
		index_conf_free(&c);
		return NULL;
	}
	return c;
}

void
index_conf_free(struct index_conf **cp)
{
	struct index_conf *c = *cp;

	if (c == NULL)
		return;
	for (unsigned i = 0; i < c->ntenants; i++)
		free(c->tenants[i]);
	search_config_fini(&c->search);
	free(c->tenants_file);
	free(c->path);
	free(c);
	*cp = NULL;
}
