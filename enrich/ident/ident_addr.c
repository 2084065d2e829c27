/*
 * ident_addr.c - canonical addresses and domains.
 *
 * The canonical address is a matching key, not something mail is sent to:
 * it merges the spellings one mailbox arrives under (case, "+tag", Gmail's
 * dots, googlemail.com) so one person becomes one contact.  Folding too
 * little splits a person in two; folding too much merges two people, so
 * the provider-specific rules are applied only where the provider
 * documents them (docs/enrich.md).
 */
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "enrich/ident/ident.h"
#include "enrich/ident/ident_int.h"

/* Mailbox providers whose local-part rules are known.  Every entry folds
 * case; PROV_DOTS ignores dots (Google: "dots don't matter in Gmail
 * addresses"); alias is the domain the same mailbox is canonically under.
 * All of these accept "+tag" subaddressing or never hand out addresses
 * with '+', so "+tag" is cut everywhere. */
#define PROV_DOTS 0x1

static const struct provider {
	const char *domain;
	const char *alias;
	unsigned flags;
} providers[] = {
	{ "gmail.com", NULL, PROV_DOTS },
	{ "googlemail.com", "gmail.com", PROV_DOTS },
	{ "outlook.com", NULL, 0 },
	{ "hotmail.com", NULL, 0 },
	{ "live.com", NULL, 0 },
	{ "msn.com", NULL, 0 },
	{ "yahoo.com", NULL, 0 },
	{ "aol.com", NULL, 0 },
	{ "icloud.com", NULL, 0 },
	{ "me.com", NULL, 0 },
	{ "mac.com", NULL, 0 },
	{ "proton.me", NULL, 0 },
	{ "protonmail.com", NULL, 0 },
	{ "fastmail.com", NULL, 0 },
	{ "gmx.de", NULL, 0 },
	{ "gmx.net", NULL, 0 },
	{ "web.de", NULL, 0 },
	{ "yandex.ru", NULL, 0 },
	{ "mail.ru", NULL, 0 },
	{ "qq.com", NULL, 0 },
	{ "163.com", NULL, 0 },
	{ "naver.com", NULL, 0 },
	{ "zoho.com", NULL, 0 },
};

static bool
ascii_label_ok(const char *l, size_t n)
{
	if (n == 0 || n > 63 || l[0] == '-' || l[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = l[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int
domain_literal(const char *in, size_t len, char *out, size_t outsz,
    const char **errstr_r)
{
	/* RFC 5321 4.1.3: "[1.2.3.4]" or "[IPv6:...]"; kept, lower-cased,
	 * never fed to the provider table or the PSL. */
	if (len < 3 || in[len - 1] != ']' || len >= outsz ||
	    len > IDENT_DOMAIN_MAX) {
		*errstr_r = "bad address literal";
		return -1;
	}
	for (size_t i = 1; i + 1 < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c <= ' ' || c >= 0x7f || c == '[' || c == ']' ||
		    c == '\\') {
			*errstr_r = "bad address literal";
			return -1;
		}
		out[i] = (char)ident_lower(c);
	}
	out[0] = '[';
	out[len - 1] = ']';
	out[len] = '\0';
	return 0;
}

int
ident_domain_norm_ex(const char *in, size_t len, char *out, size_t outsz,
    bool *idn_r, const char **errstr_r)
{
	char buf[4 * IDENT_DOMAIN_MAX + 1];
	bool nonascii = false;
	size_t n = 0, start;

	*idn_r = false;
	if (outsz > 0)
		out[0] = '\0';
	while (len > 0 && ident_is_space((unsigned char)in[0])) {
		in++;
		len--;
	}
	while (len > 0 && ident_is_space((unsigned char)in[len - 1]))
		len--;
	if (len > 0 && in[len - 1] == '.')
		len--;	/* the root label: "example.com." */
	if (len == 0) {
		*errstr_r = "empty domain";
		return -1;
	}
	if (in[0] == '[')
		return domain_literal(in, len, out, outsz, errstr_r);
	if (len >= sizeof(buf)) {
		*errstr_r = "domain too long";
		return -1;
	}
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)in[i];
		size_t l;

		if (c < 0x80) {
			if (c <= ' ' || c == 0x7f) {
				*errstr_r = "control or space in domain";
				return -1;
			}
			buf[n++] = (char)ident_lower(c);
			i++;
			continue;
		}
		if ((l = utf8_seq_len((const unsigned char *)in + i,
		    len - i)) == 0) {
			*errstr_r = "invalid UTF-8 in domain";
			return -1;
		}
		memcpy(buf + n, in + i, l);
		n += l;
		i += l;
		nonascii = true;
	}
	buf[n] = '\0';
	if (nonascii) {
		char *a = NULL;
		int rc;

		/* IDNA2008 with the UTS 46 mapping (case, width, the
		 * ideographic full stop), non-transitional: what browsers
		 * and mail providers resolve today. */
		rc = idn2_to_ascii_8z(buf, &a,
		    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
		if (rc != IDN2_OK || a == NULL) {
			idn2_free(a);
			*errstr_r = "domain is not a valid IDN";
			return -1;
		}
		n = strlen(a);
		if (n >= sizeof(buf)) {
			idn2_free(a);
			*errstr_r = "domain too long";
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)ident_lower((unsigned char)a[i]);
		buf[n] = '\0';
		idn2_free(a);
		*idn_r = true;
		if (n > 0 && buf[n - 1] == '.')
			buf[--n] = '\0';
	}
	if (n > IDENT_DOMAIN_MAX || n >= outsz) {
		*errstr_r = "domain too long";
		return -1;
	}
	start = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || buf[i] == '.') {
			if (!ascii_label_ok(buf + start, i - start)) {
				*errstr_r = "bad domain label";
				return -1;
			}
			start = i + 1;
		}
	}
	memcpy(out, buf, n + 1);
	return 0;
}

int
ident_domain_normalize(const char *in, size_t len, char *out, size_t outsz,
    const char **errstr_r)
{
	bool idn;

	return ident_domain_norm_ex(in, len, out, outsz, &idn, errstr_r);
}

static bool
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL;
}

/* Unquotes "..." into out; returns its length or -1.  *plain_r tells
 * whether the content is a dot-atom and so needs no quotes at all. */
static int
unquote_local(const char *q, size_t n, char *out, size_t outsz,
    bool *plain_r)
{
	size_t o = 0;

	*plain_r = true;
	for (size_t i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)q[i];

		if (c == '\\') {
			if (++i + 1 >= n)
				return -1;
			c = (unsigned char)q[i];
		} else if (c == '"')
			return -1;
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (!is_atext(c) && c < 0x80)
			*plain_r = false;
		if (o + 1 >= outsz)
			return -1;
		out[o++] = (char)c;
	}
	if (o == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}

static const struct provider *
provider_find(const char *domain)
{
	for (size_t i = 0; i < sizeof(providers) / sizeof(providers[0]); i++)
		if (strcmp(providers[i].domain, domain) == 0)
			return &providers[i];
	return NULL;
}

int
ident_addr_parse(const char *in, size_t len, unsigned flags,
    struct ident_addr *r, const char **errstr_r)
{
	char local[IDENT_LOCAL_MAX * 2 + 3];
	const char *at = NULL, *err = "bad address";
	const struct provider *prov;
	size_t llen, o;
	bool quoted = false, idn;

	memset(r, 0, sizeof(*r));
	while (len > 0 && ident_is_space((unsigned char)in[0])) {
		in++;
		len--;
	}
	while (len > 0 && ident_is_space((unsigned char)in[len - 1]))
		len--;
	if (len >= 7 && strncasecmp(in, "mailto:", 7) == 0) {
		in += 7;
		len -= 7;
	}
	if (len >= 2 && in[0] == '<' && in[len - 1] == '>') {
		in++;
		len -= 2;
	}
	if (len == 0) {
		*errstr_r = "empty address";
		return -1;
	}
	if (len > IDENT_ADDR_MAX + 2 * IDENT_LOCAL_MAX) {
		*errstr_r = "address too long";
		return -1;
	}

	if (in[0] == '"') {
		/* quoted-string local part: find its closing quote */
		size_t i;

		for (i = 1; i < len && in[i] != '"'; i++)
			if (in[i] == '\\')
				i++;
		if (i >= len || i + 1 >= len || in[i + 1] != '@') {
			*errstr_r = "bad quoted local part";
			return -1;
		}
		at = in + i + 1;
		quoted = true;
	} else
		at = memrchr(in, '@', len);
	if (at == NULL || at == in || at == in + len - 1) {
		*errstr_r = "no local@domain";
		return -1;
	}
	llen = (size_t)(at - in);

	if (ident_domain_norm_ex(at + 1, len - llen - 1, r->domain,
	    sizeof(r->domain), &idn, &err) != 0)
		goto bad;
	if (idn)
		r->rules |= IDENT_RULE_IDN;

	if (quoted) {
		bool plain;
		int n = unquote_local(in, llen, local, sizeof(local), &plain);

		if (n < 0 || !utf8_valid(local, (size_t)n)) {
			err = "bad quoted local part";
			goto bad;
		}
		if (!plain) {
			/* Kept quoted and exact: no provider rule is known to
			 * apply to such mailboxes.  Re-escaped so the key has
			 * one spelling. */
			o = 0;
			r->local[o++] = '"';
			for (int i = 0; i < n; i++) {
				if (o + 4 > sizeof(r->local)) {
					err = "local part too long";
					goto bad;
				}
				if (local[i] == '"' || local[i] == '\\')
					r->local[o++] = '\\';
				r->local[o++] = local[i];
			}
			r->local[o++] = '"';
			r->local[o] = '\0';
			goto done;
		}
		llen = (size_t)n;
	} else {
		if (llen >= sizeof(local)) {
			err = "local part too long";
			goto bad;
		}
		memcpy(local, in, llen);
		local[llen] = '\0';
		for (size_t i = 0; i < llen; i++) {
			unsigned char c = (unsigned char)local[i];

			if (c < 0x80 && !is_atext(c)) {
				err = "bad character in local part";
				goto bad;
			}
		}
		if (!utf8_valid(local, llen)) {
			err = "invalid UTF-8 in local part";
			goto bad;
		}
	}

	prov = provider_find(r->domain);
	if (prov != NULL && prov->alias != NULL) {
		memcpy(r->domain, prov->alias, strlen(prov->alias) + 1);
		r->rules |= IDENT_RULE_DOMAIN_ALIAS;
	}
	/* "+tag": only when something precedes it ("+1555..." is a mailbox) */
	{
		char *plus = memchr(local, '+', llen);

		if (plus != NULL && plus != local) {
			llen = (size_t)(plus - local);
			local[llen] = '\0';
			r->rules |= IDENT_RULE_PLUS_TAG;
		}
	}
	o = 0;
	for (size_t i = 0; i < llen; i++) {
		unsigned char c = (unsigned char)local[i];

		if (c == '.' && prov != NULL && (prov->flags & PROV_DOTS)) {
			r->rules |= IDENT_RULE_DOTS;
			continue;
		}
		if (prov != NULL || !(flags & IDENT_ADDR_KEEP_CASE)) {
			if (ident_lower(c) != c)
				r->rules |= IDENT_RULE_CASE_FOLDED;
			c = ident_lower(c);
		}
		local[o++] = (char)c;
	}
	local[o] = '\0';
	if (o == 0) {
		err = "empty local part";
		goto bad;
	}
	if (o > IDENT_LOCAL_MAX) {
		err = "local part too long";
		goto bad;
	}
	memcpy(r->local, local, o + 1);
done:
	o = strlen(r->local);
	memcpy(r->addr, r->local, o);
	r->addr[o] = '@';
	memcpy(r->addr + o + 1, r->domain, strlen(r->domain) + 1);
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	*errstr_r = err;
	return -1;
}
