/* tap_policy.c - see tap_policy.h. */
#include "proxy/tap_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/xmalloc.h"

/* Personal free-mail providers: mail whose only outside parties use one of
 * these is private, not business, and skip_freemail leaves it alone. */
static const char *const tap_freemail_builtin[] = {
	"gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk",
	"yahoo.fr", "yahoo.de", "ymail.com", "hotmail.com", "hotmail.co.uk",
	"hotmail.fr", "outlook.com", "live.com", "msn.com", "aol.com",
	"icloud.com", "me.com", "mac.com", "gmx.de", "gmx.net", "gmx.com",
	"web.de", "t-online.de", "mail.ru", "yandex.ru", "yandex.com",
	"proton.me", "protonmail.com", "zoho.com", "orange.fr", "free.fr",
	"laposte.net", "libero.it", "qq.com", "163.com", "mail.com",
	"fastmail.com", NULL,
};

int
tap_list_parse(struct tap_list *l, const char *value, const char **errstr_r)
{
	const char *p = value;

	while (*p != '\0') {
		size_t n;
		char *w;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n == 0)
			break;
		if (n > TAP_POLICY_ITEM_MAX) {
			*errstr_r = "list entry too long";
			return -1;
		}
		if (l->n == TAP_POLICY_LIST_MAX) {
			*errstr_r = "too many list entries";
			return -1;
		}
		w = xstrndup(p, n);
		for (char *q = w; *q != '\0'; q++)
			*q = (char)tolower((unsigned char)*q);
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = w;
		p += n;
	}
	return 0;
}

void
tap_list_free(struct tap_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	x_free(&l->v);
	l->n = 0;
}

void
tap_policy_fini(struct tap_policy *p)
{
	tap_list_free(&p->domains);
	tap_list_free(&p->block_addresses);
	tap_list_free(&p->block_domains);
	tap_list_free(&p->freemail);
	tap_list_free(&p->folders);
}

/* Iterative glob with one backtrack point: linear in practice and never
 * recursive, whatever the pattern. */
bool
tap_glob_match(const char *pat, const char *s)
{
	const char *star = NULL, *retry = NULL;

	while (*s != '\0') {
		if (*pat == '*') {
			star = ++pat;
			retry = s;
			continue;
		}
		if (*pat != '\0' && (*pat == '?' ||
		    tolower((unsigned char)*pat) ==
		    tolower((unsigned char)*s))) {
			pat++;
			s++;
			continue;
		}
		if (star == NULL)
			return false;
		pat = star;
		s = ++retry;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

static bool
tap_domain_match(const char *pat, const char *domain)
{
	size_t pl, dl;

	if (strpbrk(pat, "*?") != NULL)
		return tap_glob_match(pat, domain);
	if (strcasecmp(pat, domain) == 0)
		return true;
	pl = strlen(pat);
	dl = strlen(domain);
	return dl > pl && domain[dl - pl - 1] == '.' &&
	    strcasecmp(domain + dl - pl, pat) == 0;
}

static const char *
tap_list_domain_match(const struct tap_list *l, const char *domain)
{
	for (size_t i = 0; i < l->n; i++)
		if (tap_domain_match(l->v[i], domain))
			return l->v[i];
	return NULL;
}

bool
tap_policy_folder_ok(const struct tap_policy *p, const char *mailbox)
{
	if (p == NULL || p->folders.n == 0)
		return true;
	if (mailbox == NULL)
		return false;
	for (size_t i = 0; i < p->folders.n; i++)
		if (tap_glob_match(p->folders.v[i], mailbox))
			return true;
	return false;
}

static bool
tap_is_addr_char(unsigned char c)
{
	/* c != 0: strchr() finds the terminator */
	return isalnum(c) || (c >= 0x80) || (c != 0 &&
	    strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

static bool
tap_field_is_address(const char *name, size_t n)
{
	static const char *const fields[] = { "from", "sender", "reply-to",
		"to", "cc", "bcc", NULL };

	for (unsigned i = 0; fields[i] != NULL; i++)
		if (strlen(fields[i]) == n && strncasecmp(fields[i], name,
		    n) == 0)
			return true;
	return false;
}

/* Addresses in one (unfolded or folded) field value: every '@' outside
 * quoted strings and comments, widened to the address characters around
 * it. */
static size_t
tap_value_addresses(const char *v, size_t n,
    char (*out)[TAP_POLICY_ITEM_MAX + 1], size_t k, size_t max)
{
	bool quoted = false;
	unsigned comment = 0;

	for (size_t i = 0; i < n && k < max; i++) {
		unsigned char c = (unsigned char)v[i];
		size_t a, b, len;

		if (quoted) {
			if (c == '\\')
				i++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (comment > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (c == '"') {
			quoted = true;
			continue;
		}
		if (c == '(') {
			comment = 1;
			continue;
		}
		if (c != '@')
			continue;
		a = i;
		while (a > 0 && tap_is_addr_char((unsigned char)v[a - 1]))
			a--;
		b = i + 1;
		while (b < n && tap_is_addr_char((unsigned char)v[b]))
			b++;
		len = b - a;
		if (a == i || b == i + 1 || len > TAP_POLICY_ITEM_MAX)
			continue;
		for (size_t j = 0; j < len; j++)
			out[k][j] = (char)tolower((unsigned char)v[a + j]);
		out[k][len] = '\0';
		k++;
		i = b - 1;
	}
	return k;
}

size_t
tap_policy_addresses(const void *hdr, size_t len,
    char (*out)[TAP_POLICY_ITEM_MAX + 1], size_t max)
{
	const char *p = hdr, *end;
	size_t k = 0;

	if (len == 0)
		return 0;	/* hdr may be NULL then */
	end = p + len;
	while (p < end && k < max) {
		const char *eol, *colon, *vend;

		if (*p == '\r' || *p == '\n')
			break;	/* the empty line ends the header section */
		/* a field runs until a line that does not start with WSP */
		vend = p;
		for (;;) {
			eol = memchr(vend, '\n', (size_t)(end - vend));
			vend = eol == NULL ? end : eol + 1;
			if (vend >= end || (*vend != ' ' && *vend != '\t'))
				break;
		}
		colon = memchr(p, ':', (size_t)(vend - p));
		if (colon != NULL && tap_field_is_address(p,
		    (size_t)(colon - p)))
			k = tap_value_addresses(colon + 1,
			    (size_t)(vend - colon - 1), out, k, max);
		p = vend;
	}
	return k;
}

static bool
tap_is_freemail(const struct tap_policy *p, const char *domain)
{
	if (p->freemail.n > 0)
		return tap_list_domain_match(&p->freemail, domain) != NULL;
	for (unsigned i = 0; tap_freemail_builtin[i] != NULL; i++)
		if (strcasecmp(tap_freemail_builtin[i], domain) == 0)
			return true;
	return false;
}

static enum tap_verdict
tap_set(struct tap_decision *d, enum tap_verdict v, const char *reason,
    const char *detail)
{
	d->verdict = v;
	d->reason = reason;
	snprintf(d->detail, sizeof(d->detail), "%s", detail ? detail : "");
	return v;
}

enum tap_verdict
tap_policy_decide(const struct tap_policy *p, const char *mailbox,
    const void *hdr, size_t len, struct tap_decision *d)
{
	static char addrs[TAP_POLICY_ADDRS_MAX][TAP_POLICY_ITEM_MAX + 1];
	size_t n, external = 0, free_ext = 0;

	if (p == NULL)
		return tap_set(d, TAP_VERDICT_CAPTURE, "capture", NULL);
	if (!tap_policy_folder_ok(p, mailbox))
		return tap_set(d, TAP_VERDICT_DROP, "folder-not-opted-in",
		    NULL);
	n = tap_policy_addresses(hdr, len, addrs, TAP_POLICY_ADDRS_MAX);
	for (size_t i = 0; i < n; i++) {
		const char *at = strrchr(addrs[i], '@');
		const char *domain = at != NULL ? at + 1 : "";
		const char *m;

		for (size_t j = 0; j < p->block_addresses.n; j++)
			if (tap_glob_match(p->block_addresses.v[j], addrs[i]))
				return tap_set(d, TAP_VERDICT_DROP,
				    "blocked-address",
				    p->block_addresses.v[j]);
		if ((m = tap_list_domain_match(&p->block_domains, domain)) !=
		    NULL)
			return tap_set(d, TAP_VERDICT_DROP, "blocked-domain",
			    m);
		if (tap_list_domain_match(&p->domains, domain) == NULL) {
			external++;
			if (tap_is_freemail(p, domain))
				free_ext++;
		}
	}
	if (p->skip_internal && p->domains.n > 0 && n > 0 && external == 0)
		return tap_set(d, TAP_VERDICT_DROP, "internal-only", NULL);
	if (p->skip_freemail && external > 0 && free_ext == external)
		return tap_set(d, TAP_VERDICT_DROP, "freemail", NULL);
	if (p->header_only)
		return tap_set(d, TAP_VERDICT_HEADERS_ONLY, "header-only",
		    NULL);
	return tap_set(d, TAP_VERDICT_CAPTURE, "capture", NULL);
}
