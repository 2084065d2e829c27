/*
 * tap_session.c - see tap_session.h.
 *
 * The audit trail: every message the policy drops gets one info line
 *
 *   capture drop: reason=blocked-domain rule=*.lawfirm.example tenant=acme
 *     user=alice mailbox=INBOX uid=42 source=imap-fetch
 *
 * naming the rule, never an address from the message, a header value or
 * a byte of the body.  Losses (spool full, write error) are logged once per
 * session and counted; a blind tap once per session.
 */
#include "proxy/tap_session.h"

#include <string.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "proxy/imap_tap.h"
#include "proxy/session.h"
#include "proxy/tap_metrics.h"
#include "proxy/tap_spool.h"
#include "proxy/worker.h"

void
tap_worker_init(struct worker *w)
{
	const struct capture_conf *cc = &w->conf->capture;
	struct spool_limits lim = {
		.segment_size = cc->segment_size,
		.spool_max = cc->spool_max,
		.payload_max = cc->payload_max,
		.stage_dir = cc->stage_dir,
		.stage_size = cc->stage_size,
	};
	const char *err = NULL;

	if (!cc->enabled || cc->spool_dir == NULL)
		return;
	w->tap_spool = tap_spool_new(cc->spool_dir, w->slot, &lim,
	    cc->writers_max, &err);
	if (w->tap_spool == NULL)
		log_warn("capture off in worker slot %u: spool %s: %s",
		    w->slot, cc->spool_dir, err != NULL ? err : "?");
}

void
tap_worker_fini(struct worker *w)
{
	tap_spool_free(&w->tap_spool);
}

static void
tap_session_notify(void *arg, const struct imap_tap_info *i)
{
	struct session *s = arg;
	const char *mb = i->mailbox != NULL ? i->mailbox : "-";
	const char *e;

	switch (i->ev) {
	case IMAP_TAP_EV_CAPTURED:
		tap_metrics_add(TAP_M_CAPTURED, 1);
		tap_metrics_add(TAP_M_BYTES, i->size);
		session_log(log_debug, s, "capture %s mailbox=%s uid=%u "
		    "size=%llu", event_source_name(i->source), mb, i->uid,
		    (unsigned long long)i->size);
		break;
	case IMAP_TAP_EV_HEADERS_ONLY:
		tap_metrics_add(TAP_M_HEADERS_ONLY, 1);
		break;
	case IMAP_TAP_EV_SEEN:
		tap_metrics_add(TAP_M_SEEN, 1);
		break;
	case IMAP_TAP_EV_BLOCKED:
		tap_metrics_add(TAP_M_BLOCKED, 1);
		session_log(log_info, s, "capture drop: reason=%s rule=%s "
		    "tenant=%s user=%s mailbox=%s uid=%u source=%s",
		    i->reason, *i->detail != '\0' ? i->detail : "-",
		    s->tap_tenant, s->login_user, mb, i->uid,
		    event_source_name(i->source));
		break;
	case IMAP_TAP_EV_ABORTED:
		tap_metrics_add(TAP_M_ABORTED, 1);
		session_log(log_debug, s, "capture aborted: %s mailbox=%s",
		    event_source_name(i->source), mb);
		break;
	case IMAP_TAP_EV_REFUSED:
		tap_metrics_add(TAP_M_REFUSED, 1);
		if (!s->tap_loss_logged) {
			s->tap_loss_logged = true;
			session_log(log_warnx, s, "capture lost a message: %s "
			    "(mailbox=%s uid=%u; further losses in this "
			    "session are only counted)", i->reason, mb,
			    i->uid);
		}
		if (s->w->tap_spool != NULL &&
		    (e = tap_spool_take_error(s->w->tap_spool)) != NULL)
			session_log(log_warnx, s, "capture: spool writer: %s",
			    e);
		break;
	case IMAP_TAP_EV_BLIND:
		tap_metrics_add(TAP_M_BLIND, 1);
		session_log(log_warnx, s, "capture blind for this session: %s",
		    i->reason);
		break;
	case IMAP_TAP_EV_COUNT:
		break;
	}
}

void
tap_session_start(struct session *s)
{
	const struct proxy_conf *conf = s->w->conf;
	const struct tenant_conf *tc;
	struct imap_tap_conf tc_conf;

	if (s->w->tap_spool == NULL || s->login_user == NULL)
		return;
	s->tap_tenant = config_tenant(conf, s->login_user);
	tc = config_tenant_conf(conf, s->tap_tenant);
	memset(&tc_conf, 0, sizeof(tc_conf));
	tc_conf.tenant = s->tap_tenant;
	tc_conf.user = s->login_user;
	tc_conf.policy = tc != NULL ? &tc->policy : NULL;
	tc_conf.header_max = (size_t)conf->capture.header_max;
	tc_conf.sink = &tap_spool_sink;
	tc_conf.sink_arg = s->w->tap_spool;
	tc_conf.notify = tap_session_notify;
	tc_conf.notify_arg = s;
	s->tap = imap_tap_new(&tc_conf);
	tap_metrics_add(TAP_M_SESSIONS, 1);
	if (imap_tap_is_blind(s->tap))
		session_log(log_warnx, s, "capture off: no valid event key "
		    "for tenant=%s user=%s", s->tap_tenant, s->login_user);
}

void
tap_session_end(struct session *s)
{
	imap_tap_free(&s->tap);
}
