/*
 * ident_domain.c - registrable domains (Public Suffix List through libpsl),
 * domain sets (the free-mail list) and the tenant's own domains.
 *
 * The PSL is always loaded from a file the caller names: libpsl's built-in
 * snapshot and its "latest of built-in or dist file" logic would make the
 * account a sender lands on depend on how libpsl happened to be built.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpsl.h>

#include "enrich/ident/ident.h"
#include "enrich/ident/ident_int.h"
#include "lib/xmalloc.h"

struct ident_psl {
	psl_ctx_t *ctx;
};

struct ident_psl *
ident_psl_load(const char *path, const char **errstr_r)
{
	struct ident_psl *psl;
	psl_ctx_t *ctx;

	if (path == NULL) {
		*errstr_r = "no Public Suffix List file given";
		return NULL;
	}
	ctx = psl_load_file(path);
	if (ctx == NULL) {
		*errstr_r = "cannot load the Public Suffix List file";
		return NULL;
	}
	/* An empty or foreign file loads as an empty list, under which
	 * every name is its own registrable domain: refuse it. */
	if (psl_suffix_count(ctx) < 1000) {
		psl_free(ctx);
		*errstr_r = "Public Suffix List file has too few rules";
		return NULL;
	}
	psl = xcalloc(1, sizeof(*psl));
	psl->ctx = ctx;
	return psl;
}

void
ident_psl_free(struct ident_psl **pslp)
{
	if (*pslp == NULL)
		return;
	psl_free((*pslp)->ctx);
	x_free(pslp);
}

static bool
canonical(const char *domain)
{
	char tmp[IDENT_DOMAIN_MAX + 1];
	const char *err;
	size_t n = strnlen(domain, IDENT_DOMAIN_MAX + 1);

	if (n == 0 || n > IDENT_DOMAIN_MAX || domain[0] == '[')
		return false;
	if (ident_domain_normalize(domain, n, tmp, sizeof(tmp), &err) != 0)
		return false;
	return strcmp(tmp, domain) == 0;
}

int
ident_psl_registrable(const struct ident_psl *psl, const char *domain,
    char *out, size_t outsz)
{
	const char *reg;
	size_t n;

	if (outsz > 0)
		out[0] = '\0';
	if (!canonical(domain))
		return -1;
	reg = psl_registrable_domain(psl->ctx, domain);
	if (reg == NULL)
		return -1;
	n = strlen(reg);
	if (n >= outsz)
		return -1;
	memcpy(out, reg, n + 1);
	return 0;
}

bool
ident_psl_is_suffix(const struct ident_psl *psl, const char *domain)
{
	if (!canonical(domain))
		return false;
	return psl_is_public_suffix2(psl->ctx, domain,
	    PSL_TYPE_ANY | PSL_TYPE_NO_STAR_RULE) != 0;
}

/* ---- domain sets ------------------------------------------------------ */

struct ident_domset {
	char **names;	/* sorted, unique */
	size_t n;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct ident_domset *
ident_domset_parse(const char *buf, size_t len, size_t *errline_r,
    const char **errstr_r)
{
	struct ident_domset *set;
	size_t cap = 64, line = 0, o = 0;

	if (errline_r != NULL)
		*errline_r = 0;
	if (len > IDENT_DOMSET_MAX_BYTES) {
		*errstr_r = "domain list too large";
		return NULL;
	}
	set = xcalloc(1, sizeof(*set));
	set->names = xreallocarray(NULL, cap, sizeof(char *));
	for (size_t i = 0; i < len;) {
		const char *l = buf + i, *e = memchr(l, '\n', len - i);
		size_t n = e != NULL ? (size_t)(e - l) : len - i;
		const char *hash = memchr(l, '#', n);
		char dom[IDENT_DOMAIN_MAX + 1];
		const char *err;
		size_t k;

		i += n + (e != NULL);
		line++;
		if (hash != NULL)
			n = (size_t)(hash - l);
		for (k = 0; k < n && ident_is_space((unsigned char)l[k]); k++)
			;
		if (k == n)
			continue;
		if (ident_domain_normalize(l, n, dom, sizeof(dom), &err) != 0 ||
		    dom[0] == '[') {
			if (errline_r != NULL)
				*errline_r = line;
			*errstr_r = "not a domain name";
			ident_domset_free(&set);
			return NULL;
		}
		if (set->n >= IDENT_DOMSET_MAX_ENTRIES) {
			if (errline_r != NULL)
				*errline_r = line;
			*errstr_r = "too many domains";
			ident_domset_free(&set);
			return NULL;
		}
		if (set->n == cap) {
			cap *= 2;
			set->names = xreallocarray(set->names, cap,
			    sizeof(char *));
		}
		set->names[set->n++] = xstrdup(dom);
	}
	if (set->n > 0) {
		qsort(set->names, set->n, sizeof(char *), cmp_str);
		for (size_t i = 0; i < set->n; i++) {
			if (o > 0 && strcmp(set->names[o - 1],
			    set->names[i]) == 0) {
				x_free(&set->names[i]);
				continue;
			}
			set->names[o++] = set->names[i];
		}
		set->n = o;
	}
	return set;
}

struct ident_domset *
ident_domset_load(const char *path, size_t *errline_r, const char **errstr_r)
{
	struct ident_domset *set;
	struct stat st;
	char *buf;
	size_t got = 0;
	int fd;

	if (errline_r != NULL)
		*errline_r = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		*errstr_r = "cannot open domain list";
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)IDENT_DOMSET_MAX_BYTES) {
		close(fd);
		*errstr_r = "domain list is not a regular file of at most 4 MB";
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(buf);
		*errstr_r = "short read on domain list";
		return NULL;
	}
	set = ident_domset_parse(buf, got, errline_r, errstr_r);
	free(buf);
	return set;
}

void
ident_domset_free(struct ident_domset **setp)
{
	struct ident_domset *set = *setp;

	if (set == NULL)
		return;
	for (size_t i = 0; i < set->n; i++)
		free(set->names[i]);
	free(set->names);
	x_free(setp);
}

size_t
ident_domset_count(const struct ident_domset *set)
{
	return set->n;
}

bool
ident_domset_match(const struct ident_domset *set, const char *domain)
{
	size_t n = strnlen(domain, IDENT_DOMAIN_MAX + 1);

	if (n == 0 || n > IDENT_DOMAIN_MAX || domain[0] == '[')
		return false;
	/* the name itself, then each parent at a label boundary */
	for (const char *p = domain; p != NULL;) {
		if (bsearch(&p, set->names, set->n, sizeof(char *),
		    cmp_str) != NULL)
			return true;
		p = strchr(p, '.');
		if (p != NULL)
			p++;
	}
	return false;
}

bool
ident_domain_is_internal(const char *domain,
    const char *const *tenant_domains, size_t n)
{
	size_t dl = strnlen(domain, IDENT_DOMAIN_MAX + 1);

	if (dl == 0 || dl > IDENT_DOMAIN_MAX || domain[0] == '[')
		return false;
	for (size_t i = 0; i < n; i++) {
		char t[IDENT_DOMAIN_MAX + 1];
		const char *err;
		size_t tl;

		if (tenant_domains[i] == NULL ||
		    ident_domain_normalize(tenant_domains[i],
		    strnlen(tenant_domains[i], 4 * IDENT_DOMAIN_MAX), t,
		    sizeof(t), &err) != 0 || t[0] == '[')
			continue;
		tl = strlen(t);
		if (dl == tl && memcmp(domain, t, tl) == 0)
			return true;
		if (dl > tl && domain[dl - tl - 1] == '.' &&
		    memcmp(domain + dl - tl, t, tl) == 0)
			return true;
	}
	return false;
}
