#!/usr/bin/env bash
# smtp.bench.sh - SMTP submission benchmark (docs/bench.md): one aiosmtpd
# provider (tests/lib/smtpd.py), measured directly, through nginx's mail
# proxy and through crm-proxy, by the same client (smtpbench.py).
#
# Targets (all on 127.0.0.1, all with AUTH PLAIN from the client):
#   direct      aiosmtpd, plaintext
#   nginx       nginx mail proxy, plaintext both legs; nginx checks AUTH
#               through auth_http and does NOT pass it on, so the provider
#               accepts unauthenticated mail from it (its only mode)
#   crm-proxy   tls = none listener, upstream smtp_tls none, AUTH relayed,
#               the tap on (spooling every message)
#   direct-tls  aiosmtpd, implicit TLS
#   crm-tls     implicit-TLS listener, upstream implicit TLS (verified)
#
# Rows: "msgs" = each connection logs in once and sends 10 KB messages back
# to back for BENCH_SECS; "sessions" = each connection loops connect + EHLO
# + AUTH + one message + QUIT; with 1 and 4 concurrent connections.  The provider is Python, so absolute rates are the
# provider's; the ratios to direct are the proxy's cost.
#
# Environment: BENCH_SMTP_BASE [21500] (ports BASE+25/465 provider, +26/+27
# nginx/auth, +28 crm-proxy, +466 crm-proxy TLS), BENCH_SECS [3],
# BENCH_ROUNDS [3], BENCH_CONNS ["1 4"] (concurrent client connections),
# BENCH_KEEP=1.  Output: stdout and $BENCH_OUT/smtp.txt.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASE="${BENCH_SMTP_BASE:-21500}"
SECS="${BENCH_SECS:-3}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNS_LIST="${BENCH_CONNS:-1 4}"
CRM_PROXY="${CRM_PROXY:-$B/crm-proxy}"
PY=/usr/bin/python3
P_SMTP=$((BASE + 25)) P_SMTPS=$((BASE + 465)) P_NGINX=$((BASE + 26))
P_AUTH=$((BASE + 27)) P_CRM=$((BASE + 28)) P_CRM_TLS=$((BASE + 466))

for t in /usr/sbin/nginx openssl; do
	command -v "$t" >/dev/null ||
		die "$t not installed (run packaging/deps.sh bench)"
done
[ -f /usr/lib/nginx/modules/ngx_mail_module.so ] ||
	die "libnginx-mod-mail not installed (run packaging/deps.sh bench)"
"$PY" -c 'import aiosmtpd' 2>/dev/null ||
	die "python3-aiosmtpd not installed (run packaging/deps.sh test)"
[ -x "$CRM_PROXY" ] || die "$CRM_PROXY missing (make)"

W="$(mktemp -d /tmp/crm-smtpbench.XXXXXX)"
chmod 755 "$W"
mkdir -p "$W/smtpd" "$W/nginx/tmp" "$W/crm" "$W/crm-tls" "$W/spool"
[ "$(id -u)" = 0 ] && chown nobody "$W/spool"

cleanup() {
	bench_stop "$W/crm/crm-proxy.pid"
	bench_stop "$W/crm-tls/crm-proxy.pid"
	bench_stop "$W/nginx/nginx.pid.master"
	bench_stop "$W/smtpd/smtpd.pid"
	mkdir -p "$BENCH_OUT/smtp-logs"
	cp -f "$W/crm/crm-proxy.log" "$BENCH_OUT/smtp-logs/crm-proxy.log" \
	    2>/dev/null || true
	cp -f "$W/nginx/error.log" "$BENCH_OUT/smtp-logs/nginx.log" \
	    2>/dev/null || true
	bench_workdir_done "$W"
}
trap cleanup EXIT

bench_cert "$W/tls"

# The provider: AUTH allowed in plaintext (loopback) and not required, so
# nginx, which does not pass AUTH on, can deliver too.
SMTP_PLAIN_AUTH=1 SMTP_AUTH_REQUIRED=0 "$PY" "$ROOT/tests/lib/smtpd.py" \
    "$W/smtpd" "$P_SMTP" "$P_SMTPS" "$W/tls/cert.pem" "$W/tls/key.pem" \
    >"$W/smtpd/smtpd.log" 2>&1 &
echo $! >"$W/smtpd/smtpd.pid"
bench_wait_port "$P_SMTPS" "$W/smtpd/smtpd.pid" || die "smtpd did not start"

user=""
[ "$(id -u)" = 0 ] && user="user nobody nogroup;"
cat >"$W/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_mail_module.so;
$user
worker_processes 2;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/nginx/tmp/body;
  proxy_temp_path $W/nginx/tmp/proxy;
  fastcgi_temp_path $W/nginx/tmp/fastcgi;
  uwsgi_temp_path $W/nginx/tmp/uwsgi;
  scgi_temp_path $W/nginx/tmp/scgi;
  map "\$http_auth_user:\$http_auth_pass" \$st {
    "alice:alicepw" OK;
    default "Invalid login or password";
  }
  server {
    listen 127.0.0.1:$P_AUTH;
    location = /auth {
      add_header Auth-Status \$st;
      add_header Auth-Server 127.0.0.1;
      add_header Auth-Port $P_SMTP;
      return 204;
    }
  }
}
mail {
  server_name localhost;
  auth_http 127.0.0.1:$P_AUTH/auth;
  xclient off;
  smtp_auth plain login;
  smtp_capabilities PIPELINING 8BITMIME "SIZE 33554432";
  server { listen 127.0.0.1:$P_NGINX; protocol smtp; }
}
CONF
/usr/sbin/nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" \
    -e "$W/nginx/error.log" &
echo $! >"$W/nginx/nginx.pid.master"
bench_wait_port "$P_NGINX" "$W/nginx/nginx.pid.master" ||
	die "nginx did not start"

puser=""
[ "$(id -u)" = 0 ] && puser="user = nobody"
for v in crm crm-tls; do
	if [ $v = crm ]; then
		lis="address = 127.0.0.1:$P_CRM
tls = none
allow_plaintext_auth = yes"
		up="smtp_address = 127.0.0.1:$P_SMTP
smtp_tls = none"
	else
		lis="address = 127.0.0.1:$P_CRM_TLS
tls = implicit
cert = $W/tls/cert.pem
key = $W/tls/key.pem"
		up="smtp_address = 127.0.0.1:$P_SMTPS
smtp_tls = implicit
ca_file = $W/tls/cert.pem
smtp_server_name = localhost"
	fi
	cat >"$W/$v/crm-proxy.conf" <<CONF
[proxy]
workers = 2
$puser
log_level = warn
[limits]
connections_per_ip = 10000
connections_per_user = 10000
[listen smtp]
protocol = smtp
$lis
[upstream provider]
$up
[capture]
spool_dir = $W/spool
tenant = bench
[route]
default = provider
CONF
done
bench_proxy_start "$W/crm" "$W/crm/crm-proxy.conf" "$P_CRM" ||
	die "crm-proxy"
bench_proxy_start "$W/crm-tls" "$W/crm-tls/crm-proxy.conf" "$P_CRM_TLS" ||
	die "crm-proxy (TLS)"

run() { # PORT MODE [opts...]
	"$PY" "$HERE/smtpbench.py" "$1" "$2" --secs "$SECS" --conns "$CONNS" \
	    "${@:3}"
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b;
	else print "-" }'; }

# Targets alternate inside each round, so a change in background load
# hits all of them alike; each row is the median of ROUNDS.
declare -A args=(
	[direct]="$P_SMTP" [nginx]="$P_NGINX" [crm-proxy]="$P_CRM"
	[direct-tls]="$P_SMTPS --tls" [crm-tls]="$P_CRM_TLS --tls --ca $W/tls/cert.pem"
)
order=(direct nginx crm-proxy direct-tls crm-tls)
{
	echo "SMTP submission, aiosmtpd provider, ${SECS}s per run, median of" \
	    "$ROUNDS rounds (messages or sessions per s)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	printf '%-11s %-9s %5s %9s %8s %8s %s\n' target mode conns rate \
	    p50_ms p95_ms "vs direct (same TLS)"
	for CONNS in $CONNS_LIST; do
	for mode in msgs sessions; do
		for t in "${order[@]}"; do : >"$W/$t.$mode"; done
		for r in $(seq "$ROUNDS"); do
			for t in "${order[@]}"; do
				# shellcheck disable=SC2086
				run ${args[$t]%% *} "$mode" --auth \
				    $(sed 's/^[0-9]* *//' <<<"${args[$t]}") \
				    >>"$W/$t.$mode"
			done
		done
		for t in "${order[@]}"; do
			rate="$(awk '{ sub("/s", "", $2); print $2 }' \
			    "$W/$t.$mode" | median)"
			p50="$(sed 's/.*p50=\([0-9.]*\).*/\1/' "$W/$t.$mode" |
			    median)"
			p95="$(sed 's/.*p95=\([0-9.]*\).*/\1/' "$W/$t.$mode" |
			    median)"
			err="$(awk '{ sub("errors=", "", $5); e += $5 }
			    END { print e + 0 }' "$W/$t.$mode")"
			case $t in
			*tls) ref="$W/direct-tls.$mode" ;;
			*) ref="$W/direct.$mode" ;;
			esac
			refrate="$(awk '{ sub("/s", "", $2); print $2 }' \
			    "$ref" | median)"
			printf '%-11s %-9s %5s %9s %8s %8s %s%s\n' "$t" \
			    "$mode" "$CONNS" "$rate" "$p50" "$p95" \
			    "$(ratio "$rate" "$refrate")" \
			    "$([ "$err" = 0 ] || echo " ($err errors)")"
		done
	done
	done
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "provider stored $(ls "$W/smtpd/maildir/new" | wc -l) messages;" \
	    "crm-proxy spooled $(du -sk "$W/spool" | cut -f1) KB"
} | tee "$BENCH_OUT/smtp.txt"
