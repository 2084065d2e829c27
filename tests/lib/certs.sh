# tests/lib/certs.sh - a throwaway test CA and server certificates.
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
	local d="$1" n
	mkdir -p "$d"
	(
		set -e
		cd "$d"
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -days 2 -subj "/CN=crm-proxy test CA" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout ca.key -out ca.pem 2>/dev/null
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
			-nodes -days 2 -subj "/CN=rogue test CA" \
			-keyout rogue-ca.key -out rogue-ca.pem 2>/dev/null
		cat >leaf.ext <<-'EOF'
			basicConstraints=CA:FALSE
			keyUsage=critical,digitalSignature,keyEncipherment
			extendedKeyUsage=serverAuth
			subjectAltName=DNS:localhost,IP:127.0.0.1
		EOF
		for n in dovecot proxy; do
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
				-nodes -subj "/CN=localhost/O=$n" \
				-keyout "$n.key" -out "$n.csr" 2>/dev/null
			openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key \
				-CAcreateserial -days 2 -extfile leaf.ext \
				-out "$n.pem" 2>/dev/null
			rm -f "$n.csr"
		done
		chmod 644 ./*.pem
		chmod 600 ./*.key
	) || return 1
	openssl verify -CAfile "$d/ca.pem" "$d/dovecot.pem" "$d/proxy.pem" \
		>/dev/null || return 1
}
