#!/usr/bin/env bash
# deps.sh - install what crm-proxy needs on Debian 12, from Debian's archive.
#
#   packaging/deps.sh          build libraries + the demo provider (Dovecot)
#   packaging/deps.sh test     + everything the test suite starts or drives:
#                                real servers, real clients, fuzzing toolchain
#   packaging/deps.sh bench    + the peers the benchmarks compare against
#
# Runs as root (apt-get).  Idempotent: a second run installs nothing new and
# takes about a second.  Debian's libetpan-dev depends on libcurl4-gnutls-dev,
# which conflicts with libcurl4-openssl-dev, so the GnuTLS flavour is used;
# it has the same <curl/curl.h> and pkg-config module.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

BUILD=(build-essential pkg-config make
       libetpan-dev libical-dev libssl-dev libevent-dev librdkafka-dev
       libcurl4-gnutls-dev libjansson-dev libpq-dev libxml2-dev zlib1g-dev
       libopenblas-dev libutf8proc-dev libgumbo-dev libpsl-dev libidn2-dev
       publicsuffix openssl ca-certificates)
# The Public Suffix List decides which account a sender's domain lands on,
# so enrich/ident loads Debian's file explicitly (never libpsl's built-in
# snapshot).  Results are tested with this version; another one is used
# but reported, since a PSL update can move domains between accounts.
PSL_VERSION=20230209.2326-1
DEMO=(dovecot-core dovecot-imapd dovecot-lmtpd dovecot-submissiond)
TEST=(libcmocka-dev clang-14 libclang-rt-14-dev valgrind
      postgresql-15 kcat isync neomutt tmux curl swaks
      libnet-ssleay-perl libio-socket-ssl-perl python3-aiosmtpd
      radicale vdirsyncer procps psmisc iproute2 maven
      openjdk-17-jre-headless python3-venv socat nginx-light)
BENCH=(libnginx-mod-mail perdition)

want=("${BUILD[@]}" "${DEMO[@]}")
case "${1:-}" in
  "")    ;;
  test)  want+=("${TEST[@]}");;
  bench) want+=("${TEST[@]}" "${BENCH[@]}");;
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
  *) echo "deps.sh: unknown set '$1' (use: test, bench)" >&2; exit 2;;
esac

if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: run as root (apt-get install); e.g. sudo $0 $*" >&2
  exit 1
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
    || missing+=("$p")
done
psl_check() {
  local v
  v=$(dpkg-query -W -f='${Version}' publicsuffix 2>/dev/null || true)
  [ "$v" = "$PSL_VERSION" ] ||
    echo "deps.sh: note: publicsuffix is '${v:-absent}', tested with $PSL_VERSION" >&2
}
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps.sh: all ${#want[@]} packages present"
  psl_check
  exit 0
fi
echo "deps.sh: installing ${#missing[@]} packages: ${missing[*]}"
# policy-rc.d keeps apt from starting system dovecot/nginx/postgres on
# well-known ports; the project starts its own copies on loopback.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
fi
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
psl_check
echo "deps.sh: done"
