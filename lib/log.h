/*
 * log.h - daemon logging, in the OpenBSD/OpenSMTPD style.
 *
 * One line per event on stderr (the service manager keeps it) or syslog.
 * Lines look like "crm-proxy[123]: warning: <msg>", so an operator can grep
 * by level.  log_warn/fatal append strerror(errno).  Libraries never call
 * these (STYLE 17); daemons do.  Secrets must never be passed in.
 */
#ifndef CRM_LOG_H
#define CRM_LOG_H

#include <stdbool.h>
#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Sets the program name shown in every line and where lines go. */
void log_init(const char *progname, bool use_syslog);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info", "debug"; returns -1 if unknown. */
int log_level_parse(const char *s, enum log_level *level_r);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void log_vmsg(enum log_level level, bool with_errno, const char *fmt,
    va_list ap) LOG_PRINTF(3, 0);

/* Project assert: logs the failed expression and aborts (never compiled out). */
#define CRM_ASSERT(e) do { if (!(e)) \
	fatalx("assertion failed: %s (%s:%d)", #e, __FILE__, __LINE__); } while (0)

#endif
