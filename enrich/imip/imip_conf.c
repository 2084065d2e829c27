/* imip_conf.c - see imip_conf.h. */
#include "enrich/imip/imip_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xmalloc.h"

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

static int
set_topic(char **dst, const char *v, char *err)
{
	if (*v == '\0' || strlen(v) > 249 ||
	    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") != strlen(v)) {
		snprintf(err, CONF_ERR_MAX, "\"%s\" is not a Kafka topic name",
		    v);
		return -1;
	}
	set_str(dst, v);
	return 0;
}

static int
imip_conf_handler(void *ctx, const char *section, const char *name,
    const char *key, const char *value, int line, char *err)
{
	struct imip_conf *c = ctx;

	(void)line;
	static const char *const sections[] = { "kafka", "imip", "log",
	    NULL };

	if (*key == '\0')
		return conf_section_plain(section, name, sections, err);
	if (strcmp(section, "kafka") == 0) {
		int rc = kafka_conf_key(&c->kafka, key, value, err);

		if (rc <= 0)
			return rc;
		if (strcmp(key, "input_topic") == 0)
			return set_topic(&c->input_topic, value, err);
		if (strcmp(key, "output_topic") == 0)
			return set_topic(&c->output_topic, value, err);
		if (strcmp(key, "retry_initial_ms") == 0)
			return conf_parse_uint(value, 1, 60000,
			    &c->retry_initial_ms, err);
		if (strcmp(key, "retry_max_ms") == 0)
			return conf_parse_uint(value, 1, 600000,
			    &c->retry_max_ms, err);
	} else if (strcmp(section, "imip") == 0) {
		if (strcmp(key, "message_max") == 0)
			return conf_parse_size(value, 64 * 1024,
			    64 * 1024 * 1024, &c->message_max, err);
		if (strcmp(key, "calendar_max") == 0)
			return conf_parse_size(value, 4096,
			    16 * 1024 * 1024, &c->calendar_max, err);
	}
	return conf_log_or_unknown(section, key, value, &c->log_level,
	    NULL, err);
}

struct imip_conf *
imip_conf_load(const char *path, char *err)
{
	struct imip_conf *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	kafka_conf_init(&c->kafka, "crm-imip");
	c->input_topic = xstrdup("crm.mail.v1");
	c->output_topic = xstrdup("crm.calendar.v1");
	c->retry_initial_ms = 500;
	c->retry_max_ms = 30000;
	c->message_max = 64 * 1024 * 1024;
	c->calendar_max = 1024 * 1024;
	c->log_level = LOG_LEVEL_INFO;
	if (conf_parse_file(path, imip_conf_handler, c, err) != 0) {
		imip_conf_free(&c);
		return NULL;
	}
	if (kafka_conf_check(&c->kafka, path, err) != 0) {
		imip_conf_free(&c);
		return NULL;
	}
	if (strcmp(c->input_topic, c->output_topic) == 0) {
		snprintf(err, CONF_ERR_MAX, "%s: [kafka] input_topic and "
		    "output_topic are the same", path);
		imip_conf_free(&c);
		return NULL;
	}
	if (c->retry_initial_ms > c->retry_max_ms)
		c->retry_initial_ms = c->retry_max_ms;
	return c;
}

void
imip_conf_free(struct imip_conf **confp)
{
	struct imip_conf *c = *confp;

	if (c == NULL)
		return;
	kafka_conf_clear(&c->kafka);
	free(c->path);
	free(c->input_topic);
	free(c->output_topic);
	x_free(confp);
}
