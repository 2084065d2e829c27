# tests/lib/certs.sh - a throwaway test CA and server certificates, made
# with the product's own tool (certs/crm-certs), so every scenario also
# exercises what IT runs.
#
#   certs_make DIR        DIR/ca.pem (the CA clients and the proxy trust),
#                         DIR/dovecot.{pem,key}, DIR/proxy.{pem,key},
#                         DIR/rogue-ca.pem (a CA that signed nothing here)
#
# Dovecot and the proxy get distinct keys signed by one CA, so every
# verification in the suite is a real chain check: the proxy verifies
# Dovecot against ca.pem, clients verify the proxy against ca.pem, and
# nothing passes by pinning a self-signed leaf.  The SAN carries DNS:localhost
# and IP:127.0.0.1 because mbsync checks only the DNS name and curl/Python
# accept either.  EC P-256 keys keep generation under 100 ms.

certs_make() { # DIR
	local d="$1" c="$ROOT/certs/crm-certs" n
	"$c" ca "$d" --cn "crm-proxy test CA" --days 2 >/dev/null || return 1
	"$c" ca "$d/rogue" --cn "rogue test CA" --days 2 >/dev/null || return 1
	cp "$d/rogue/ca.pem" "$d/rogue-ca.pem" || return 1
	for n in dovecot proxy; do
		"$c" issue "$d" localhost --out "$n" --days 2 \
			--san DNS:localhost,IP:127.0.0.1 >/dev/null || return 1
		"$c" check "$d/$n.pem" "$d/$n.key" --ca "$d/ca.pem" \
			--name localhost --warn-days 1 >/dev/null || return 1
	done
}
