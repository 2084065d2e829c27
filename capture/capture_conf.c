/* capture_conf.c - see capture_conf.h. */
#include "capture/capture_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/spool.h"
#include "lib/xmalloc.h"

static void
capture_conf_set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = xstrdup(v);
}

static int
capture_conf_handler(void *ctx, const char *section, const char *name,
    const char *key, const char *value, int line, char *err)
{
	struct capture_conf *c = ctx;
	uint64_t sz;

	(void)line;
	static const char *const sections[] = { "spool", "kafka", "metrics",
	    "log", NULL };

	if (*key == '\0')
		return conf_section_plain(section, name, sections, err);
	if (strcmp(section, "spool") == 0) {
		if (strcmp(key, "dir") == 0) {
			capture_conf_set_str(&c->spool_dir, value);
			return 0;
		}
		if (strcmp(key, "poll_interval_ms") == 0)
			return conf_parse_uint(value, 1, 10000, &c->poll_ms,
			    err);
		if (strcmp(key, "ack_interval_ms") == 0)
			return conf_parse_uint(value, 1, 60000,
			    &c->ack_interval_ms, err);
		if (strcmp(key, "fsync") == 0)
			return conf_parse_bool(value, &c->fsync, err);
	} else if (strcmp(section, "kafka") == 0) {
		int rc = kafka_conf_key(&c->kafka, key, value, err);

		if (rc <= 0)
			return rc;
		if (strcmp(key, "compression") == 0) {
			if (strcmp(value, "none") != 0 &&
			    strcmp(value, "lz4") != 0 &&
			    strcmp(value, "zstd") != 0 &&
			    strcmp(value, "gzip") != 0 &&
			    strcmp(value, "snappy") != 0) {
				snprintf(err, CONF_ERR_MAX,
				    "compression must be none, lz4, zstd, "
				    "gzip or snappy");
				return -1;
			}
			capture_conf_set_str(&c->compression, value);
			return 0;
		}
		if (strcmp(key, "message_max") == 0)
			return conf_parse_size(value, 1024 * 1024,
			    1000000000, &c->message_max, err);
		if (strcmp(key, "linger_ms") == 0)
			return conf_parse_uint(value, 0, 60000, &c->linger_ms,
			    err);
		if (strcmp(key, "delivery_timeout_ms") == 0)
			return conf_parse_uint(value, 0, 86400000,
			    &c->delivery_timeout_ms, err);
		if (strcmp(key, "max_in_flight") == 0) {
			if (conf_parse_size(value, 1024 * 1024,
			    (uint64_t)1 << 40, &sz, err) != 0)
				return -1;
			c->inflight_max_bytes = sz;
			return 0;
		}
		if (strcmp(key, "max_in_flight_records") == 0)
			return conf_parse_uint(value, 1, 1000000,
			    &c->inflight_max_records, err);
		if (strcmp(key, "shutdown_timeout") == 0)
			return conf_parse_duration(value, 0, 3600,
			    &c->shutdown_timeout, err);
	} else if (strcmp(section, "metrics") == 0) {
		if (strcmp(key, "file") == 0) {
			capture_conf_set_str(&c->metrics_file, value);
			return 0;
		}
		if (strcmp(key, "interval_ms") == 0)
			return conf_parse_uint(value, 100, 3600000,
			    &c->metrics_interval_ms, err);
	}
	return conf_log_or_unknown(section, key, value, &c->log_level,
	    NULL, err);
}

struct capture_conf *
capture_conf_load(const char *path, char *err)
{
	struct capture_conf *c = xcalloc(1, sizeof(*c));

	c->path = xstrdup(path);
	kafka_conf_init(&c->kafka, NULL);
	c->poll_ms = 20;
	c->ack_interval_ms = 200;
	c->fsync = true;
	c->compression = xstrdup("lz4");
	/* A 64 MiB message plus its headers and batch framing. */
	c->message_max = SPOOL_PAYLOAD_MAX + 1024 * 1024;
	c->linger_ms = 5;
	c->delivery_timeout_ms = 0;
	c->inflight_max_bytes = 256ULL * 1024 * 1024;
	c->inflight_max_records = 50000;
	c->shutdown_timeout = 30;
	c->metrics_interval_ms = 1000;
	c->log_level = LOG_LEVEL_INFO;
	if (conf_parse_file(path, capture_conf_handler, c, err) != 0) {
		capture_conf_free(&c);
		return NULL;
	}
	if (c->spool_dir == NULL) {
		snprintf(err, CONF_ERR_MAX, "%s: [spool] dir is required",
		    path);
		capture_conf_free(&c);
		return NULL;
	}
	if (kafka_conf_check(&c->kafka, path, err) != 0) {
		capture_conf_free(&c);
		return NULL;
	}
	return c;
}

void
capture_conf_free(struct capture_conf **confp)
{
	struct capture_conf *c = *confp;

	if (c == NULL)
		return;
	kafka_conf_clear(&c->kafka);
	free(c->path);
	free(c->spool_dir);
	free(c->compression);
	free(c->metrics_file);
	x_free(confp);
}
