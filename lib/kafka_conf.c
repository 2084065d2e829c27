/* kafka_conf.c - see kafka_conf.h. */
#include "lib/kafka_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/conf.h"
#include "lib/xmalloc.h"

static void
kafka_conf_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

void
kafka_conf_init(struct kafka_conf *c, const char *group_id)
{
	memset(c, 0, sizeof(*c));
	c->consumer = group_id != NULL;
	if (group_id != NULL)
		c->group_id = xstrdup(group_id);
	c->session_timeout = 30;
	c->max_poll_interval = 300;
	c->commit_interval_ms = 1000;
}

int
kafka_conf_key(struct kafka_conf *c, const char *key, const char *value,
    char *err)
{
	if (strcmp(key, "brokers") == 0) {
		if (*value == '\0') {
			snprintf(err, CONF_ERR_MAX, "brokers is empty");
			return -1;
		}
		kafka_conf_str(&c->brokers, value);
		return 0;
	}
	if (strncmp(key, "rdkafka.", 8) == 0 && key[8] != '\0') {
		if (c->nprops == KAFKA_PROPS_MAX) {
			snprintf(err, CONF_ERR_MAX,
			    "more than %d rdkafka.* settings", KAFKA_PROPS_MAX);
			return -1;
		}
		c->prop_names[c->nprops] = xstrdup(key + 8);
		c->prop_values[c->nprops++] = xstrdup(value);
		return 0;
	}
	if (!c->consumer)
		return 1;
	if (strcmp(key, "group_id") == 0) {
		if (*value == '\0') {
			snprintf(err, CONF_ERR_MAX, "group_id is empty");
			return -1;
		}
		kafka_conf_str(&c->group_id, value);
		return 0;
	}
	if (strcmp(key, "session_timeout") == 0)
		return conf_parse_duration(value, 6, 300, &c->session_timeout,
		    err);
	if (strcmp(key, "max_poll_interval") == 0)
		return conf_parse_duration(value, 10, 86400,
		    &c->max_poll_interval, err);
	if (strcmp(key, "commit_interval_ms") == 0)
		return conf_parse_uint(value, 0, 600000,
		    &c->commit_interval_ms, err);
	return 1;
}

int
kafka_conf_check(const struct kafka_conf *c, const char *path, char *err)
{
	if (c->brokers == NULL) {
		snprintf(err, CONF_ERR_MAX, "%s: [kafka] brokers is required",
		    path);
		return -1;
	}
	if (c->consumer && c->max_poll_interval <= c->session_timeout) {
		snprintf(err, CONF_ERR_MAX, "%s: [kafka] max_poll_interval "
		    "must exceed session_timeout", path);
		return -1;
	}
	return 0;
}

void
kafka_conf_clear(struct kafka_conf *c)
{
	for (unsigned i = 0; i < c->nprops; i++) {
		free(c->prop_names[i]);
		free(c->prop_values[i]);
	}
	free(c->brokers);
	free(c->group_id);
	memset(c, 0, sizeof(*c));
}
