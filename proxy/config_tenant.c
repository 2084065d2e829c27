/*
 * config_tenant.c - which capture tenant a user belongs to.
 *
 * Kept apart from config.c (no parsing, no libraries) so the taps'
 * unit tests and fuzz targets can link it with a hand-made proxy_conf.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "proxy/config.h"

/* The precedence of config_route(): a user route, then the domain, then
 * the default; the route's "tenant=" if it has one, else [capture]'s. */
static const char *
config_tenant_of(const struct proxy_conf *conf, const char *user,
    bool caldav)
{
	const struct route_conf *dflt = NULL, *dom = NULL;
	const char *at = strrchr(user, '@');

	for (unsigned i = 0; i < conf->nroutes; i++) {
		const struct route_conf *r = &conf->routes[i];

		if (r->caldav != caldav)
			continue;
		switch (r->kind) {
		case ROUTE_USER:
			if (strcasecmp(r->match, user) == 0)
				return r->tenant != NULL ? r->tenant :
				    conf->capture.tenant;
			break;
		case ROUTE_DOMAIN:
			if (at != NULL && strcasecmp(r->match, at + 1) == 0)
				dom = r;
			break;
		case ROUTE_DEFAULT:
			dflt = r;
			break;
		case ROUTE_HOST:
			break;	/* the taps know the user, not the Host */
		}
	}
	if (dom == NULL)
		dom = dflt;
	return dom != NULL && dom->tenant != NULL ? dom->tenant :
	    conf->capture.tenant;
}

const char *
config_tenant(const struct proxy_conf *conf, const char *user)
{
	return config_tenant_of(conf, user, false);
}

const char *
config_tenant_caldav(const struct proxy_conf *conf, const char *user)
{
	return config_tenant_of(conf, user, true);
}
