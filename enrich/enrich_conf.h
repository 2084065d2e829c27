/*
 * enrich_conf.h - crm-enrich's configuration file (INI, lib/conf.h).
 * Every error names file:line.  See README.md "Configuration
 * (crm-enrich)" and enrich/crm-enrich.conf.example.
 */
#ifndef CRM_ENRICH_CONF_H
#define CRM_ENRICH_CONF_H

#include <stdbool.h>

#include "lib/conf.h"
#include "lib/kafka_conf.h"
#include "lib/log.h"

#define ENRICH_TOPICS_MAX 8

struct enrich_conf {
	char *path;
	char *conninfo;		/* never holds a password (checked) */
	char *passfile;		/* libpq password file, mode 0600 */
	char *psl_file;		/* [resolve]; NULL: the defaults */
	char *freemail_file;
	struct kafka_conf kafka;	/* brokers, group, rdkafka.* */
	char *topics[ENRICH_TOPICS_MAX];
	unsigned ntopics;
	char *deadletter_topic;
	unsigned batch_records;		/* records per batch, at most */
	unsigned retry_initial_ms;
	unsigned retry_max_ms;
	enum log_level log_level;
	bool syslog;
};

/* Returns the configuration, or NULL with "file:line: reason" in err. */
struct enrich_conf *enrich_conf_load(const char *path, char *err);
void enrich_conf_free(struct enrich_conf **confp);

#endif
