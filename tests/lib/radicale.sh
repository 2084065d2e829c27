# tests/lib/radicale.sh - a private Radicale 3 (CalDAV) for scenarios.
# Source after tests/lib/common.sh (uses alloc_port, track_pid, fail, $T).
#
#   radicale_start [CERT KEY]
#       Radicale on 127.0.0.1:$RADICALE_PORT with its own config (never
#       /etc/radicale, whose remote_user auth would let anyone in), plain
#       htpasswd users alice/alicepw and bob/bobpw (or RADICALE_USERS:
#       "user:password ..." pairs), owner_only rights, the
#       collections under $T/radicale/collections.  With CERT and KEY it
#       speaks HTTPS (the proxy then verifies it like any provider).
#       Sets RADICALE_PORT, RADICALE_PID, RADICALE_URL.
#   radicale_report USER COLLECTION      calendar-query REPORT straight to
#       Radicale (not through the proxy): the multistatus XML on stdout.
#
# Radicale gotchas (verified with 3.1.8): a chunked upload (curl -T -)
# gets 400, so clients here send bodies with a length; it answers with
# gzip when the client accepts it; it closes the connection after each
# answer (wsgiref), and it re-serializes stored objects (property order
# changes), so "the same event" must be compared by content, not bytes.

radicale_start() { # [CERT KEY]
	local d="$T/radicale" cert="${1:-}" key="${2:-}" scheme=http i
	need_cmd radicale curl
	mkdir -p "$d/collections"
	alloc_port RADICALE_PORT
	printf '%s\n' ${RADICALE_USERS:-alice:alicepw bob:bobpw} >"$d/htpasswd"
	{
		printf '[server]\nhosts = 127.0.0.1:%s\n' "$RADICALE_PORT"
		if [ -n "$cert" ]; then
			printf 'ssl = True\ncertificate = %s\nkey = %s\n' \
				"$cert" "$key"
			scheme=https
		fi
		printf '[auth]\ntype = htpasswd\nhtpasswd_filename = %s\n' \
			"$d/htpasswd"
		printf 'htpasswd_encryption = plain\ndelay = 0\n'
		printf '[rights]\ntype = owner_only\n'
		printf '[storage]\nfilesystem_folder = %s/collections\n' "$d"
		printf '[logging]\nlevel = warning\n'
	} >"$d/config"
	radicale -C "$d/config" >"$d/radicale.log" 2>&1 &
	RADICALE_PID=$!
	track_pid "$RADICALE_PID" radicale
	RADICALE_URL="$scheme://localhost:$RADICALE_PORT"
	for i in $(seq 100); do
		curl -s -o /dev/null ${cert:+--cacert "$CA"} \
			"$RADICALE_URL/.web/" && break
		kill -0 "$RADICALE_PID" 2>/dev/null || break
		sleep 0.1
	done
	curl -s -o /dev/null ${cert:+--cacert "$CA"} "$RADICALE_URL/.web/" ||
		{ cat "$d/radicale.log" >&2; fail "radicale did not start"; }
	note "radicale pid $RADICALE_PID on $RADICALE_URL"
	export RADICALE_PORT RADICALE_PID RADICALE_URL
}

radicale_report() { # USER COLLECTION
	curl -sS --fail --max-time 10 --cacert "$CA" -u "$1:${1}pw" \
		-X REPORT -H 'Depth: 1' -H 'Content-Type: application/xml' \
		--data-binary '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>' \
		"$RADICALE_URL/$1/$2/"
}
