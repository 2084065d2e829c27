/* resolve.c - see resolve.h. */
#include "enrich/resolve.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "enrich/ident/ident.h"
#include "lib/xmalloc.h"

#ifndef CRM_FREEMAIL_PATH
#define CRM_FREEMAIL_PATH "/usr/local/share/crm-proxy/freemail.txt"
#endif

struct resolve_rules {
	struct ident_psl *psl;
	struct ident_domset *freemail;
};

/* The free-mail list: given, installed, in the working directory's
 * source tree, or in the tree the executable was built in. */
static struct ident_domset *
load_freemail(const char *path, const char **errstr_r)
{
	char exe[PATH_MAX], cand[PATH_MAX + 64];
	ssize_t n;

	if (path != NULL)
		return ident_domset_load(path, NULL, errstr_r);
	if (access(CRM_FREEMAIL_PATH, R_OK) == 0)
		return ident_domset_load(CRM_FREEMAIL_PATH, NULL, errstr_r);
	if (access(IDENT_FREEMAIL_FILE, R_OK) == 0)
		return ident_domset_load(IDENT_FREEMAIL_FILE, NULL, errstr_r);
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL)
			*slash = '\0';
		snprintf(cand, sizeof(cand), "%s/../%s", exe,
		    IDENT_FREEMAIL_FILE);
		if (access(cand, R_OK) == 0)
			return ident_domset_load(cand, NULL, errstr_r);
	}
	*errstr_r = "free-mail list not found";
	return NULL;
}

struct resolve_rules *
resolve_rules_load(const char *psl_path, const char *freemail_path,
    const char **errstr_r)
{
	struct resolve_rules *r = xcalloc(1, sizeof(*r));

	r->psl = ident_psl_load(psl_path ? psl_path : IDENT_PSL_DEFAULT,
	    errstr_r);
	if (r->psl == NULL || (r->freemail = load_freemail(freemail_path,
	    errstr_r)) == NULL) {
		resolve_rules_free(&r);
		return NULL;
	}
	return r;
}

void
resolve_rules_free(struct resolve_rules **rp)
{
	struct resolve_rules *r = *rp;

	if (r == NULL)
		return;
	ident_psl_free(&r->psl);
	ident_domset_free(&r->freemail);
	x_free(rp);
}

enum resolve_kind
resolve_party(const struct resolve_rules *rules, const char *address,
    const char *const *tenant_domains, size_t n, char *account_domain,
    size_t size)
{
	struct ident_addr a;
	char reg[IDENT_DOMAIN_MAX + 1];
	const char *err;

	if (address == NULL || ident_addr_parse(address, strlen(address), 0,
	    &a, &err) != 0)
		return RESOLVE_INVALID;
	if (ident_auto_localpart(a.local, strlen(a.local)))
		return RESOLVE_NOREPLY;
	if (ident_domain_is_internal(a.domain, tenant_domains, n))
		return RESOLVE_INTERNAL;
	if (ident_psl_registrable(rules->psl, a.domain, reg, sizeof(reg)) != 0)
		snprintf(reg, sizeof(reg), "%s", a.domain);
	if (ident_domset_match(rules->freemail, a.domain) ||
	    ident_domset_match(rules->freemail, reg))
		return RESOLVE_FREEMAIL;
	if (ident_domain_is_internal(reg, tenant_domains, n))
		return RESOLVE_INTERNAL;
	if ((size_t)snprintf(account_domain, size, "%s", reg) >= size)
		return RESOLVE_INVALID;
	return RESOLVE_COMPANY;
}
