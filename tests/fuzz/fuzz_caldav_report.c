/*
 * fuzz_caldav_report.c - the CalDAV tap's multistatus reader
 * (proxy/caldav_tap.c): libxml2's push parser, gzip/zlib inflate, the
 * iCalendar glue and the spool writer behind them, on arbitrary answers.
 *
 * Input: byte 0 chooses compressed (bit 0) and the size of the pieces the
 * body is fed in (bits 1-7); the rest is the answer body.  Checks: no
 * crash, leak or sanitizer report; libxml2's own limits (depth, entity
 * amplification) hold, since the tap turns none of them off.  Records
 * go to a throwaway spool (capped; once full they are dropped and
 * counted, as in production).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "proxy/caldav_tap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct proxy_conf conf;
static char dir[] = "/tmp/crm-fuzz-caldav.XXXXXX";

static void
cleanup(void)
{
	DIR *d;
	struct dirent *e;
	char path[512];

	caldav_tap_worker_fini();
	if ((d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void
init_once(void)
{
	static int done;

	if (done++)
		return;
	if (mkdtemp(dir) == NULL)
		abort();
	log_init("fuzz_caldav_report", false);
	log_set_level(LOG_LEVEL_ERROR);
	conf.capture = (struct capture_conf){
		.tenant = (char *)"fuzz",
		.spool_dir = dir,
		.spool_max = 8 << 20,
	};
	conf.caldav = (struct caldav_conf){
		.object_max = 64 << 10,
		.seen_entries = 1024,
	};
	if (caldav_tap_seen_init(1024) != 0)
		abort();
	caldav_tap_worker_init(&conf, 0);
	if (!caldav_tap_enabled())
		abort();
	atexit(cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct caldav_report *r;
	size_t piece;

	init_once();
	if (size < 1)
		return 0;
	piece = (size_t)(data[0] >> 1) + 1;
	r = caldav_report_new("fuzz", "alice", data[0] & 1);
	if (r == NULL)
		abort();
	for (size_t off = 1; off < size; off += piece)
		caldav_report_feed(r, data + off,
		    size - off < piece ? size - off : piece);
	caldav_report_free(&r);
	return 0;
}
