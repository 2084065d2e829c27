/*
 * conf.h - a small INI reader with file:line diagnostics, and value parsers
 * shared by every daemon's configuration.
 *
 *   [section]            or   [section name]
 *   key = value          leading/trailing blanks trimmed
 *   # comment, ; comment  (whole lines, or after a blank inside a value)
 *
 * Bounded: lines over CONF_LINE_MAX bytes are an error, not truncated.
 */
#ifndef CRM_CONF_H
#define CRM_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/log.h"

#define CONF_LINE_MAX 4096
#define CONF_ERR_MAX 512

/*
 * Called once per "key = value".  section/name are "" when absent.  Return 0,
 * or -1 after writing a message (without file:line) into err (CONF_ERR_MAX).
 */
typedef int conf_handler(void *ctx, const char *section, const char *name,
    const char *key, const char *value, int line, char *err);

/*
 * Reads path and calls handler for each pair.  Section headers are reported
 * to the handler as key "" (value "") so it can open a new object.
 * Returns 0, or -1 with "file:line: message" in err (CONF_ERR_MAX bytes).
 */
int conf_parse_file(const char *path, conf_handler *handler, void *ctx,
    char *err);

/* Value parsers: return 0, or -1 with a message in err. */
int conf_parse_bool(const char *s, bool *v_r, char *err);
/* "64k", "1m", "4096" -> bytes; 1024-based. */
int conf_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *v_r,
    char *err);
/* "30", "30s", "5m", "1h" -> seconds. */
int conf_parse_duration(const char *s, unsigned min, unsigned max,
    unsigned *v_r, char *err);
int conf_parse_uint(const char *s, unsigned min, unsigned max, unsigned *v_r,
    char *err);
/* A section header in a file whose sections take no name: 0 when
 * section is one of known (NULL-terminated), else -1 with the reason. */
int conf_section_plain(const char *section, const char *name,
    const char *const *known, char *err);
/* "[log] level": error, warn, info or debug. */
int conf_parse_log_level(const char *s, enum log_level *level_r, char *err);
/*
 * The end of a daemon's handler, for any key its own sections did not
 * take: [log] level (and syslog when syslog_r is not NULL), else -1 with
 * "outside a section" or "unknown key" in err.
 */
int conf_log_or_unknown(const char *section, const char *key,
    const char *value, enum log_level *level_r, bool *syslog_r, char *err);
/* "host:port", "[v6]:port" -> split copies (host without brackets). */
int conf_split_hostport(const char *s, char *host, size_t host_size,
    char *port, size_t port_size, char *err);
/* A numeric host and a port -> sockaddr (no DNS); false if host is a
 * name.  Port is not range-checked here: conf_split_hostport() does. */
bool conf_sockaddr_numeric(const char *host, unsigned port,
    struct sockaddr_storage *ss, socklen_t *len_r);
/* Numeric address:port -> sockaddr (no DNS). */
int conf_parse_sockaddr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len_r, char *err);

#endif
