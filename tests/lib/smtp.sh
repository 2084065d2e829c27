# tests/lib/smtp.sh - the scenario's SMTP provider (tests/lib/smtpd.py,
# aiosmtpd with STARTTLS + AUTH storing to a Maildir).  Source after
# common.sh and certs_make "$T/certs".
#
#   smtp_start          starts it in $T/smtpd; sets and exports
#                       SMTPD_PORT (STARTTLS), SMTPD_SMTPS (implicit TLS),
#                       SMTPD_MAILDIR, SMTPD_LOG (accepted.log), SMTPD_PID
#                       Environment: SMTP_AUTH_REQUIRED, SMTP_DATA_LIMIT.
#   smtp_count          messages stored so far
#
# The server presents $T/certs/dovecot.pem (the "provider" certificate of
# certs.sh, signed by the test CA), so the proxy verifies it for real.
# Needs /usr/bin/python3 with python3-aiosmtpd (the pyenv python3 on PATH
# does not see Debian's packages).

smtp_start() {
	local d="$T/smtpd" i
	"$PY" -c 'import aiosmtpd' 2>/dev/null ||
		{ skip "python3-aiosmtpd missing (packaging/deps.sh test)"; }
	mkdir -p "$d/maildir/new" "$d/maildir/cur" "$d/maildir/tmp"
	: >"$d/accepted.log"
	alloc_port SMTPD_PORT
	alloc_port SMTPD_SMTPS
	"$PY" "$TLIB/smtpd.py" "$d" "$SMTPD_PORT" "$SMTPD_SMTPS" \
	    "$T/certs/dovecot.pem" "$T/certs/dovecot.key" \
	    >"$d/smtpd.log" 2>&1 &
	SMTPD_PID=$!
	track_pid "$SMTPD_PID" smtpd
	for i in $(seq 1 100); do
		grep -q ready "$d/smtpd.log" 2>/dev/null && break
		kill -0 "$SMTPD_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q ready "$d/smtpd.log" ||
		{ cat "$d/smtpd.log" >&2; fail "smtpd did not start"; }
	SMTPD_MAILDIR="$d/maildir"
	SMTPD_LOG="$d/accepted.log"
	export SMTPD_PORT SMTPD_SMTPS SMTPD_MAILDIR SMTPD_LOG SMTPD_PID
	note "smtpd pid $SMTPD_PID: starttls $SMTPD_PORT, smtps $SMTPD_SMTPS"
}

smtp_count() {
	find "$SMTPD_MAILDIR/new" "$SMTPD_MAILDIR/cur" -type f | wc -l
}
