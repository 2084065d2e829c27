/*
 * imip_conf.h - crm-imip's configuration (INI, lib/conf.h).  The example
 * file enrich/imip/crm-imip.conf.example documents every key.
 */
#ifndef CRM_IMIP_CONF_H
#define CRM_IMIP_CONF_H

#include <stdint.h>

#include "lib/conf.h"
#include "lib/kafka_conf.h"
#include "lib/log.h"

struct imip_conf {
	char *path;
	/* [kafka] */
	struct kafka_conf kafka;	/* brokers, group, rdkafka.* */
	char *input_topic;
	char *output_topic;
	unsigned retry_initial_ms;
	unsigned retry_max_ms;
	/* [imip] */
	uint64_t message_max;
	uint64_t calendar_max;
	/* [log] */
	enum log_level log_level;
};

/* Reads path.  Returns the configuration, or NULL with "file:line: why"
 * in err (CONF_ERR_MAX bytes). */
struct imip_conf *imip_conf_load(const char *path, char *err);
void imip_conf_free(struct imip_conf **confp);

#endif
