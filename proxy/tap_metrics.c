/* tap_metrics.c - see tap_metrics.h. */
#include "proxy/tap_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

struct tap_metrics_region {
	uint64_t v[TAP_M_COUNT];
};

static struct tap_metrics_region *tap_metrics;

static const struct {
	const char *name, *help;
} tap_metric_names[TAP_M_COUNT] = {
	[TAP_M_CAPTURED] = { "crm_proxy_tap_captured_total",
	    "Whole messages committed to the spool" },
	[TAP_M_HEADERS_ONLY] = { "crm_proxy_tap_headers_only_total",
	    "Messages committed without their body by policy" },
	[TAP_M_SEEN] = { "crm_proxy_tap_seen_total",
	    "Seen notices (partial or header fetches) committed" },
	[TAP_M_BLOCKED] = { "crm_proxy_tap_blocked_total",
	    "Messages dropped by the edge policy" },
	[TAP_M_ABORTED] = { "crm_proxy_tap_aborted_total",
	    "Records aborted (APPEND refused, message cut short)" },
	[TAP_M_REFUSED] = { "crm_proxy_tap_dropped_total",
	    "Messages lost to the spool (full, too big, write error)" },
	[TAP_M_BLIND] = { "crm_proxy_tap_blind_sessions_total",
	    "Sessions whose tap lost sync and stopped capturing" },
	[TAP_M_SESSIONS] = { "crm_proxy_tap_sessions_total",
	    "Sessions with the tap on" },
	[TAP_M_BYTES] = { "crm_proxy_tap_captured_bytes_total",
	    "Message bytes committed to the spool" },
};

int
tap_metrics_init(void)
{
	void *p;

	if (tap_metrics != NULL)
		return 0;
	p = mmap(NULL, sizeof(*tap_metrics), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	tap_metrics = p;
	return 0;
}

void
tap_metrics_add(enum tap_metric m, uint64_t n)
{
	if (tap_metrics != NULL)
		__atomic_add_fetch(&tap_metrics->v[m], n, __ATOMIC_RELAXED);
}

uint64_t
tap_metrics_get(enum tap_metric m)
{
	return tap_metrics != NULL ? __atomic_load_n(&tap_metrics->v[m],
	    __ATOMIC_RELAXED) : 0;
}

int
tap_metrics_write(const char *path, const struct spool_counters *sp)
{
	char tmp[4096];
	FILE *f;
	int saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	for (unsigned i = 0; i < TAP_M_COUNT; i++)
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
		    tap_metric_names[i].name, tap_metric_names[i].help,
		    tap_metric_names[i].name, tap_metric_names[i].name,
		    (unsigned long long)tap_metrics_get((enum tap_metric)i));
	if (sp != NULL) {
		uint64_t depth = sp->bytes_written > sp->bytes_released ?
		    sp->bytes_written - sp->bytes_released : 0;

		fprintf(f, "# HELP crm_proxy_spool_bytes Bytes in the spool "
		    "directory (written - released)\n"
		    "# TYPE crm_proxy_spool_bytes gauge\n"
		    "crm_proxy_spool_bytes %llu\n",
		    (unsigned long long)depth);
#define C(n, v, h) fprintf(f, "# HELP crm_proxy_spool_" n " " h "\n" \
	"# TYPE crm_proxy_spool_" n " counter\ncrm_proxy_spool_" n " %llu\n", \
	(unsigned long long)(v))
#define C2(n, v, h) fprintf(f, "crm_proxy_spool_" n " %llu\n", \
	(unsigned long long)(v))
		C("records_spooled_total", sp->records_committed,
		    "Records committed by all writers");
		C("records_acked_total", sp->records_acked,
		    "Records Kafka acknowledged (crm-capture)");
		C("records_dropped_total", sp->records_dropped,
		    "Records refused: spool full or too big");
		C("records_failed_total", sp->records_failed,
		    "Records lost to write errors");
		C("records_aborted_total", sp->records_aborted,
		    "Records aborted");
		/* a committed record a staged writer lost will never be
		 * acked: it is counted failed instead */
		fprintf(f, "# TYPE crm_proxy_spool_records_unacked gauge\n");
		C2("records_unacked", sp->records_committed >
		    sp->records_acked + sp->records_lost ?
		    sp->records_committed - sp->records_acked -
		    sp->records_lost : 0, "Committed records not yet acked");
#undef C
#undef C2
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}
