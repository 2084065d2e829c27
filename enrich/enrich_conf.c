/* enrich_conf.c - see enrich_conf.h. */
#include "enrich/enrich_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xmalloc.h"

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

/* No plaintext credentials at rest: a password in the connection string
 * is refused; libpq reads it from the password file instead. */
static bool
has_password(const char *ci)
{
	const char *p, *at, *scheme;

	for (p = ci; (p = strcasestr(p, "password")) != NULL; p++) {
		const char *q = p + 8;
		while (*q == ' ')
			q++;
		if (*q == '=')
			return true;
	}
	scheme = strstr(ci, "://");
	if (scheme != NULL) {
		const char *auth = scheme + 3;
		at = strchr(auth, '@');
		if (at != NULL) {
			const char *colon = memchr(auth, ':',
			    (size_t)(at - auth));
			const char *slash = memchr(auth, '/',
			    (size_t)(at - auth));
			if (colon != NULL && slash == NULL)
				return true;
		}
	}
	return false;
}

static int
set_topics(struct enrich_conf *c, const char *v, char *err)
{
	char *copy = xstrdup(v), *tok, *save = NULL;

	for (unsigned i = 0; i < c->ntopics; i++)
		x_free(&c->topics[i]);
	c->ntopics = 0;
	for (tok = strtok_r(copy, " ,\t", &save); tok != NULL;
	    tok = strtok_r(NULL, " ,\t", &save)) {
		if (c->ntopics == ENRICH_TOPICS_MAX) {
			snprintf(err, CONF_ERR_MAX, "more than %d topics",
			    ENRICH_TOPICS_MAX);
			free(copy);
			return -1;
		}
		c->topics[c->ntopics++] = xstrdup(tok);
	}
	free(copy);
	if (c->ntopics == 0) {
		snprintf(err, CONF_ERR_MAX, "topics is empty");
		return -1;
	}
	return 0;
}

static int
enrich_conf_handler(void *ctx, const char *section, const char *name,
    const char *key, const char *value, int line, char *err)
{
	struct enrich_conf *c = ctx;

	(void)line;
	static const char *const sections[] = { "database", "kafka", "retry",
	    "resolve", "log", NULL };

	if (*key == '\0')
		return conf_section_plain(section, name, sections, err);
	if (strcmp(section, "database") == 0) {
		if (strcmp(key, "conninfo") == 0) {
			if (has_password(value)) {
				snprintf(err, CONF_ERR_MAX, "conninfo must not "
				    "contain a password; use passfile");
				return -1;
			}
			set_str(&c->conninfo, value);
			return 0;
		}
		if (strcmp(key, "passfile") == 0) {
			struct stat st;
			if (stat(value, &st) != 0) {
				snprintf(err, CONF_ERR_MAX, "passfile %s: "
				    "cannot stat", value);
				return -1;
			}
			if ((st.st_mode & 077) != 0) {
				snprintf(err, CONF_ERR_MAX, "passfile %s is "
				    "readable by others (chmod 600)", value);
				return -1;
			}
			set_str(&c->passfile, value);
			return 0;
		}
	} else if (strcmp(section, "resolve") == 0) {
		if (strcmp(key, "psl_file") == 0 ||
		    strcmp(key, "freemail_file") == 0) {
			if (access(value, R_OK) != 0) {
				snprintf(err, CONF_ERR_MAX, "%s %s: not "
				    "readable", key, value);
				return -1;
			}
			set_str(key[0] == 'p' ? &c->psl_file :
			    &c->freemail_file, value);
			return 0;
		}
	} else if (strcmp(section, "kafka") == 0) {
		int rc = kafka_conf_key(&c->kafka, key, value, err);

		if (rc <= 0)
			return rc;
		if (strcmp(key, "topics") == 0)
			return set_topics(c, value, err);
		if (strcmp(key, "deadletter_topic") == 0) {
			set_str(&c->deadletter_topic, value);
			return 0;
		}
		if (strcmp(key, "batch_records") == 0)
			return conf_parse_uint(value, 1, 1000,
			    &c->batch_records, err);
	} else if (strcmp(section, "retry") == 0) {
		if (strcmp(key, "initial_ms") == 0)
			return conf_parse_uint(value, 10, 60000,
			    &c->retry_initial_ms, err);
		if (strcmp(key, "max_ms") == 0)
			return conf_parse_uint(value, 10, 600000,
			    &c->retry_max_ms, err);
	}
	return conf_log_or_unknown(section, key, value, &c->log_level,
	    &c->syslog, err);
}

struct enrich_conf *
enrich_conf_load(const char *path, char *err)
{
	struct enrich_conf *c = xcalloc(1, sizeof(*c));
	char e2[CONF_ERR_MAX];

	c->path = xstrdup(path);
	c->conninfo = xstrdup("dbname=crm user=crm_enrich");
	kafka_conf_init(&c->kafka, "crm-enrich");
	c->topics[0] = xstrdup("crm.mail.v1");
	c->topics[1] = xstrdup("crm.calendar.v1");
	c->ntopics = 2;
	c->deadletter_topic = xstrdup("crm.deadletter.v1");
	c->batch_records = 64;
	c->retry_initial_ms = 200;
	c->retry_max_ms = 30000;
	c->log_level = LOG_LEVEL_INFO;
	if (conf_parse_file(path, enrich_conf_handler, c, err) != 0) {
		enrich_conf_free(&c);
		return NULL;
	}
	if (kafka_conf_check(&c->kafka, path, err) != 0) {
		enrich_conf_free(&c);
		return NULL;
	}
	if (c->retry_max_ms < c->retry_initial_ms) {
		snprintf(e2, sizeof(e2), "%s: [retry] max_ms is below "
		    "initial_ms", path);
		snprintf(err, CONF_ERR_MAX, "%s", e2);
		enrich_conf_free(&c);
		return NULL;
	}
	return c;
}

void
enrich_conf_free(struct enrich_conf **confp)
{
	struct enrich_conf *c = *confp;

	if (c == NULL)
		return;
	kafka_conf_clear(&c->kafka);
	for (unsigned i = 0; i < c->ntopics; i++)
		free(c->topics[i]);
	free(c->path);
	free(c->conninfo);
	free(c->passfile);
	free(c->psl_file);
	free(c->freemail_file);
	free(c->deadletter_topic);
	x_free(confp);
}
