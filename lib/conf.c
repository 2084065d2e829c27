/* conf.c - see conf.h. */
#include "lib/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *
conf_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int
conf_parse_file(const char *path, conf_handler *handler, void *ctx,
    char *err)
{
	char line[CONF_LINE_MAX + 2], section[128] = "", name[128] = "";
	char msg[CONF_ERR_MAX];
	FILE *f;
	int lineno = 0, rc = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, CONF_ERR_MAX, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s, *eq, *key, *value, *hash;
		size_t len = strlen(line);

		lineno++;
		if (len > CONF_LINE_MAX ||
		    (len > 0 && line[len - 1] != '\n' && !feof(f))) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: line longer than %d bytes", path, lineno,
			    CONF_LINE_MAX);
			rc = -1;
			break;
		}
		s = conf_trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']'), *sp;

			if (end == NULL || *conf_trim(end + 1) != '\0') {
				snprintf(err, CONF_ERR_MAX,
				    "%s:%d: malformed section header", path,
				    lineno);
				rc = -1;
				break;
			}
			*end = '\0';
			s = conf_trim(s + 1);
			name[0] = '\0';
			if ((sp = strpbrk(s, " \t")) != NULL) {
				*sp = '\0';
				snprintf(name, sizeof(name), "%s",
				    conf_trim(sp + 1));
			}
			if (*s == '\0' || strlen(s) >= sizeof(section)) {
				snprintf(err, CONF_ERR_MAX,
				    "%s:%d: bad section name", path, lineno);
				rc = -1;
				break;
			}
			snprintf(section, sizeof(section), "%s", s);
			msg[0] = '\0';
			if (handler(ctx, section, name, "", "", lineno, msg)
			    != 0) {
				snprintf(err, CONF_ERR_MAX, "%s:%d: %s", path,
				    lineno, msg);
				rc = -1;
				break;
			}
			continue;
		}
		if ((eq = strchr(s, '=')) == NULL) {
			snprintf(err, CONF_ERR_MAX,
			    "%s:%d: expected \"key = value\"", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		key = conf_trim(s);
		value = eq + 1;
		/* A comment after a value must follow a blank, so "#" may
		 * appear inside a value (a password file path, say). */
		for (hash = value; (hash = strpbrk(hash, "#;")) != NULL;
		    hash++) {
			if (hash > value && (hash[-1] == ' ' ||
			    hash[-1] == '\t')) {
				*hash = '\0';
				break;
			}
		}
		value = conf_trim(value);
		if (*key == '\0') {
			snprintf(err, CONF_ERR_MAX, "%s:%d: empty key", path,
			    lineno);
			rc = -1;
			break;
		}
		msg[0] = '\0';
		if (handler(ctx, section, name, key, value, lineno, msg) !=
		    0) {
			snprintf(err, CONF_ERR_MAX, "%s:%d: %s", path, lineno,
			    msg);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, CONF_ERR_MAX, "%s: read error", path);
		rc = -1;
	}
	fclose(f);
	return rc;
}

int
conf_parse_bool(const char *s, bool *v_r, char *err)
{
	if (strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0 ||
	    strcmp(s, "1") == 0 || strcasecmp(s, "on") == 0) {
		*v_r = true;
		return 0;
	}
	if (strcasecmp(s, "no") == 0 || strcasecmp(s, "false") == 0 ||
	    strcmp(s, "0") == 0 || strcasecmp(s, "off") == 0) {
		*v_r = false;
		return 0;
	}
	snprintf(err, CONF_ERR_MAX, "\"%s\" is not yes or no", s);
	return -1;
}

static int
conf_parse_scaled(const char *s, const char *suffixes,
    const uint64_t *scales, uint64_t *v_r, char *err)
{
	unsigned long long v;
	const char *sfx;
	char *end;

	if (!isdigit((unsigned char)*s)) {
		snprintf(err, CONF_ERR_MAX, "\"%s\" is not a number", s);
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0) {
		snprintf(err, CONF_ERR_MAX, "\"%s\" is out of range", s);
		return -1;
	}
	while (*end == ' ')
		end++;
	if (*end != '\0') {
		if (end[1] != '\0' ||
		    (sfx = strchr(suffixes, tolower((unsigned char)*end))) ==
		    NULL) {
			snprintf(err, CONF_ERR_MAX,
			    "\"%s\": unknown unit (use one of %s)", s,
			    suffixes);
			return -1;
		}
		if (v > UINT64_MAX / scales[sfx - suffixes]) {
			snprintf(err, CONF_ERR_MAX, "\"%s\" is out of range",
			    s);
			return -1;
		}
		v *= scales[sfx - suffixes];
	}
	*v_r = v;
	return 0;
}

int
conf_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *v_r,
    char *err)
{
	static const uint64_t scales[] = { 1024, 1024 * 1024,
		1024 * 1024 * 1024 };
	uint64_t v;

	if (conf_parse_scaled(s, "kmg", scales, &v, err) != 0)
		return -1;
	if (v < min || v > max) {
		snprintf(err, CONF_ERR_MAX,
		    "%s is outside %llu..%llu bytes", s,
		    (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	*v_r = v;
	return 0;
}

int
conf_parse_duration(const char *s, unsigned min, unsigned max, unsigned *v_r,
    char *err)
{
	static const uint64_t scales[] = { 1, 60, 3600 };
	uint64_t v;

	if (conf_parse_scaled(s, "smh", scales, &v, err) != 0)
		return -1;
	if (v < min || v > max) {
		snprintf(err, CONF_ERR_MAX, "%s is outside %u..%u seconds", s,
		    min, max);
		return -1;
	}
	*v_r = (unsigned)v;
	return 0;
}

int
conf_parse_uint(const char *s, unsigned min, unsigned max, unsigned *v_r,
    char *err)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end != '\0' || errno != 0 ||
	    v < min || v > max) {
		snprintf(err, CONF_ERR_MAX,
		    "\"%s\" is not a whole number in %u..%u", s, min, max);
		return -1;
	}
	*v_r = (unsigned)v;
	return 0;
}

int
conf_split_hostport(const char *s, char *host, size_t host_size, char *port,
    size_t port_size, char *err)
{
	const char *colon, *hs = s, *he;

	if (*s == '[') {
		he = strchr(s, ']');
		if (he == NULL || he[1] != ':') {
			snprintf(err, CONF_ERR_MAX,
			    "\"%s\": expected [address]:port", s);
			return -1;
		}
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || strchr(s, ':') != colon) {
			snprintf(err, CONF_ERR_MAX,
			    "\"%s\": expected host:port ([addr]:port for "
			    "IPv6)", s);
			return -1;
		}
		he = colon;
	}
	if (he == hs || (size_t)(he - hs) >= host_size ||
	    strlen(colon + 1) >= port_size || colon[1] == '\0') {
		snprintf(err, CONF_ERR_MAX, "\"%s\": bad host or port", s);
		return -1;
	}
	for (const char *p = colon + 1; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p)) {
			snprintf(err, CONF_ERR_MAX,
			    "\"%s\": port must be numeric", s);
			return -1;
		}
	}
	if (strtoul(colon + 1, NULL, 10) < 1 ||
	    strtoul(colon + 1, NULL, 10) > 65535) {
		snprintf(err, CONF_ERR_MAX, "\"%s\": port out of range", s);
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	snprintf(port, port_size, "%s", colon + 1);
	return 0;
}

bool
conf_sockaddr_numeric(const char *host, unsigned port,
    struct sockaddr_storage *ss, socklen_t *len_r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len_r = sizeof(*sin);
		return true;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*sin6);
		return true;
	}
	return false;
}

int
conf_parse_sockaddr(const char *s, struct sockaddr_storage *ss,
    socklen_t *len_r, char *err)
{
	char host[256], port[8];

	if (conf_split_hostport(s, host, sizeof(host), port, sizeof(port),
	    err) != 0)
		return -1;
	if (!conf_sockaddr_numeric(host,
	    (unsigned)strtoul(port, NULL, 10), ss, len_r)) {
		snprintf(err, CONF_ERR_MAX,
		    "\"%s\": listen address must be numeric", host);
		return -1;
	}
	return 0;
}

int
conf_section_plain(const char *section, const char *name,
    const char *const *known, char *err)
{
	if (*name != '\0') {
		snprintf(err, CONF_ERR_MAX, "[%s] takes no name", section);
		return -1;
	}
	for (; *known != NULL; known++)
		if (strcmp(section, *known) == 0)
			return 0;
	snprintf(err, CONF_ERR_MAX, "unknown section [%s]", section);
	return -1;
}

int
conf_parse_log_level(const char *s, enum log_level *level_r, char *err)
{
	if (log_level_parse(s, level_r) == 0)
		return 0;
	snprintf(err, CONF_ERR_MAX, "level must be error, warn, info or debug");
	return -1;
}

int
conf_log_or_unknown(const char *section, const char *key, const char *value,
    enum log_level *level_r, bool *syslog_r, char *err)
{
	if (strcmp(section, "log") == 0) {
		if (strcmp(key, "level") == 0)
			return conf_parse_log_level(value, level_r, err);
		if (syslog_r != NULL && strcmp(key, "syslog") == 0)
			return conf_parse_bool(value, syslog_r, err);
	} else if (*section == '\0') {
		snprintf(err, CONF_ERR_MAX, "\"%s\" outside a section", key);
		return -1;
	}
	snprintf(err, CONF_ERR_MAX, "unknown key \"%s\" in [%s]", key,
	    section);
	return -1;
}
