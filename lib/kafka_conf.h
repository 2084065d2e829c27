/*
 * kafka_conf.h - the [kafka] settings the Kafka daemons share (crm-capture,
 * crm-enrich, crm-imip): brokers, the consumer group's timing and
 * "rdkafka.NAME = VALUE" pass-through.  Each daemon's handler offers its
 * [kafka] keys here first and keeps its own for the rest.  No librdkafka
 * here (lib/kafka.h applies them), so it links into unit tests alone.
 */
#ifndef CRM_KAFKA_CONF_H
#define CRM_KAFKA_CONF_H

#include <stdbool.h>

#define KAFKA_PROPS_MAX 32

struct kafka_conf {
	bool consumer;			/* group keys accepted */
	char *brokers;
	char *group_id;
	unsigned session_timeout;	/* seconds */
	unsigned max_poll_interval;	/* seconds */
	unsigned commit_interval_ms;
	unsigned nprops;
	char *prop_names[KAFKA_PROPS_MAX];	/* without "rdkafka." */
	char *prop_values[KAFKA_PROPS_MAX];
};

/* Defaults: a producer (group NULL), or a consumer of that group with
 * 30 s sessions, 300 s between polls, commits every second. */
void kafka_conf_init(struct kafka_conf *c, const char *group_id);
/*
 * One [kafka] key: 0 taken, -1 bad value (err, CONF_ERR_MAX bytes), 1 not
 * one of the shared keys (the caller's own, or unknown).
 */
int kafka_conf_key(struct kafka_conf *c, const char *key, const char *value,
    char *err);
/* After the file: brokers given, polls longer than sessions.  0, or -1
 * with "path: why" in err. */
int kafka_conf_check(const struct kafka_conf *c, const char *path,
    char *err);
void kafka_conf_clear(struct kafka_conf *c);

#endif
