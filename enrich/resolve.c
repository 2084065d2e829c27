/* resolve.c - see resolve.h.  The registrable domain comes from libpsl's
 * built-in Public Suffix List, so "a.b.example.co.uk" is "example.co.uk". */
#include "enrich/resolve.h"

#include <libpsl.h>
#include <stdio.h>
#include <string.h>

static const char *const freemail[] = {
	"gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com",
	"hotmail.com", "outlook.com", "live.com", "msn.com", "icloud.com",
	"me.com", "mac.com", "aol.com", "gmx.de", "gmx.net", "gmx.com",
	"web.de", "proton.me", "protonmail.com", "mail.com", "yandex.ru",
	"mail.ru", "qq.com", "163.com", "zoho.com", "fastmail.com", NULL,
};

static const char *const robots[] = {
	"noreply", "no-reply", "no_reply", "donotreply", "do-not-reply",
	"mailer-daemon", "postmaster", "bounce", "bounces", "notifications",
	NULL,
};

enum resolve_kind
resolve_party(const char *address, char *account_domain, size_t size)
{
	const char *at = strrchr(address, '@'), *dom, *reg;
	size_t local_len;

	if (at == NULL || at == address || at[1] == '\0')
		return RESOLVE_INVALID;
	dom = at + 1;
	local_len = (size_t)(at - address);
	for (size_t i = 0; robots[i] != NULL; i++) {
		size_t n = strlen(robots[i]);
		/* "bounce+x@", "noreply-billing@" count too */
		if (local_len >= n && strncmp(address, robots[i], n) == 0 &&
		    (local_len == n || address[n] == '+' || address[n] == '-'))
			return RESOLVE_NOREPLY;
	}
	reg = psl_registrable_domain(psl_builtin(), dom);
	if (reg == NULL)
		reg = dom;	/* an IP literal, or a bare public suffix */
	for (size_t i = 0; freemail[i] != NULL; i++)
		if (strcmp(reg, freemail[i]) == 0)
			return RESOLVE_FREEMAIL;
	if ((size_t)snprintf(account_domain, size, "%s", reg) >= size)
		return RESOLVE_INVALID;
	return RESOLVE_COMPANY;
}
