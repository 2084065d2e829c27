/*
 * capture_conf.h - crm-capture's configuration (INI, lib/conf.h).  The
 * example file capture/crm-capture.conf.example documents every key.
 */
#ifndef CRM_CAPTURE_CONF_H
#define CRM_CAPTURE_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/conf.h"
#include "lib/kafka_conf.h"
#include "lib/log.h"

struct capture_conf {
	char *path;
	/* [spool] */
	char *spool_dir;
	unsigned poll_ms;
	unsigned ack_interval_ms;
	bool fsync;
	/* [kafka] */
	struct kafka_conf kafka;	/* brokers, rdkafka.* */
	char *compression;
	uint64_t message_max;
	unsigned linger_ms;
	unsigned delivery_timeout_ms;	/* 0: retry for ever */
	uint64_t inflight_max_bytes;
	unsigned inflight_max_records;
	unsigned shutdown_timeout;	/* seconds */
	/* [metrics] */
	char *metrics_file;
	unsigned metrics_interval_ms;
	/* [log] */
	enum log_level log_level;
};

/* Reads path.  Returns the configuration, or NULL with "file:line: why"
 * in err (CONF_ERR_MAX bytes). */
struct capture_conf *capture_conf_load(const char *path, char *err);
void capture_conf_free(struct capture_conf **confp);

#endif
