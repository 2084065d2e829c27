/*
 * index_conf.h - crm-index's configuration file.
 *
 * The [embed], [vector] and [database] sections are crm-search's
 * (search.h); [index] and [log] are the daemon's own.  Errors come back as
 * "file:line: reason" (lib/conf.h).
 */
#ifndef CRM_INDEX_CONF_H
#define CRM_INDEX_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "enrich/search/search.h"
#include "lib/log.h"

#define INDEX_TENANTS_MAX 1024
#define INDEX_BATCH_MAX 512

struct index_conf {
	char *path;
	struct search_config search;
	unsigned batch;		/* messages per embedding batch */
	uint64_t batch_bytes;	/* and at most about this much text */
	unsigned poll_interval;	/* seconds between full sweeps */
	unsigned max_attempts;	/* failures before a queue row is left */
	unsigned retry_initial_ms, retry_max_ms;	/* database down */
	char *tenants[INDEX_TENANTS_MAX];	/* [index] tenants */
	unsigned ntenants;
	char *tenants_file;	/* tenants seen, kept across restarts */
	enum log_level log_level;
	bool syslog;
};

/*
 * Reads PATH.  Returns the configuration, or NULL with "file:line: msg"
 * (or "file: msg") in err (CONF_ERR_MAX bytes).
 */
struct index_conf *index_conf_load(const char *path, char *err);
void index_conf_free(struct index_conf **conf);

#endif
