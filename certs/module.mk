# certs/ - crm-certs, the certificate tool for IT (a shell script over the
# openssl command; nothing to build).

install: install-certs
.PHONY: install-certs
install-certs:
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 certs/crm-certs $(DESTDIR)$(PREFIX)/sbin/crm-certs
	install -m 644 man/crm-certs.8 $(DESTDIR)$(PREFIX)/share/man/man8/
