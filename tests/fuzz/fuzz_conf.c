/*
 * fuzz_conf.c - the INI reader every daemon's configuration goes through
 * (lib/conf.c), with the shared value parsers and the [kafka] keys
 * (lib/kafka_conf.c) applied to whatever it reports.
 *
 * Checks: every call returns 0 or -1; a failure names file:line inside
 * the input's line count; section, key and value never exceed a line;
 * a parsed size, duration or uint is inside the bounds it was asked for;
 * a split host:port fits its buffers; nothing leaks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/kafka_conf.h"

#define FUZZ_CHECK(e) do { if (!(e)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct kafka_conf kafka;
	unsigned pairs;
};

static int
handler(void *ctx, const char *section, const char *name, const char *key,
    const char *value, int line, char *err)
{
	struct fz *f = ctx;
	uint64_t sz;
	unsigned u;
	bool b;
	enum log_level lvl;
	char host[256], port[32];
	struct sockaddr_storage ss;
	socklen_t sl;

	FUZZ_CHECK(line >= 1);
	FUZZ_CHECK(strlen(section) < CONF_LINE_MAX);
	FUZZ_CHECK(strlen(name) < CONF_LINE_MAX);
	FUZZ_CHECK(strlen(key) < CONF_LINE_MAX);
	FUZZ_CHECK(strlen(value) < CONF_LINE_MAX);
	f->pairs++;
	if (*key == '\0')
		return 0;
	if (conf_parse_size(value, 1024, 1u << 30, &sz, err) == 0)
		FUZZ_CHECK(sz >= 1024 && sz <= (1u << 30));
	if (conf_parse_duration(value, 1, 86400, &u, err) == 0)
		FUZZ_CHECK(u >= 1 && u <= 86400);
	if (conf_parse_uint(value, 0, 65535, &u, err) == 0)
		FUZZ_CHECK(u <= 65535);
	(void)conf_parse_bool(value, &b, err);
	(void)conf_parse_log_level(value, &lvl, err);
	if (conf_split_hostport(value, host, sizeof(host), port,
	    sizeof(port), err) == 0)
		FUZZ_CHECK(strlen(host) < sizeof(host) &&
		    strlen(port) < sizeof(port));
	if (conf_parse_sockaddr(value, &ss, &sl, err) == 0)
		FUZZ_CHECK(sl <= sizeof(ss));
	if (strcmp(section, "kafka") == 0) {
		int rc = kafka_conf_key(&f->kafka, key, value, err);

		FUZZ_CHECK(rc >= -1 && rc <= 1);
		FUZZ_CHECK(f->kafka.nprops <= KAFKA_PROPS_MAX);
		return rc < 0 ? -1 : 0;
	}
	/* Some keys refuse, so errors on later lines are reached too. */
	return strcmp(key, "refuse") == 0 ? -1 : 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64], err[CONF_ERR_MAX];
	struct fz f;
	unsigned lines = 1;
	int fd, rc;

	if (size > 256 * 1024)
		return 0;
	for (size_t i = 0; i < size; i++)
		lines += data[i] == '\n';
	if ((fd = memfd_create("fuzz_conf", 0)) < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	memset(&f, 0, sizeof(f));
	kafka_conf_init(&f.kafka, "fuzz");
	err[0] = '\0';
	rc = conf_parse_file(path, handler, &f, err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		const char *p = strstr(err, path);
		long line;

		/* "path:line: why" (or "path: why" for the whole file) */
		FUZZ_CHECK(p == err);
		p += strlen(path);
		if (*p == ':' && p[1] >= '0' && p[1] <= '9') {
			line = strtol(p + 1, NULL, 10);
			FUZZ_CHECK(line >= 1 && line <= (long)lines);
		}
	}
	(void)kafka_conf_check(&f.kafka, path, err);
	kafka_conf_clear(&f.kafka);
	close(fd);
	return 0;
}
