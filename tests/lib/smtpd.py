"""smtpd.py - the test suite's SMTP provider: aiosmtpd (Debian
python3-aiosmtpd 1.4.3) with STARTTLS and AUTH, storing every accepted
message in a Maildir byte for byte as the server received it (dot-unstuffed
DATA, nothing prepended), and one JSON line per message in DIR/accepted.log
(file name, envelope, authenticated user).  Run by tests/lib/smtp.sh.

  smtpd.py DIR PORT SMTPS_PORT CERT KEY

PORT: ESMTP with STARTTLS, AUTH only after STARTTLS.  SMTPS_PORT: implicit
TLS.  Users alice/alicepw, bob/bobpw (PLAIN, LOGIN), and XOAUTH2 with the
token "token-<user>".  SMTP_AUTH_REQUIRED=0 lets unauthenticated senders
in (the nginx benchmark); SMTP_PLAIN_AUTH=1 allows AUTH before STARTTLS
(benchmarks, loopback only).  SMTP_DATA_LIMIT caps a message (552 beyond).

Policy hooks for the tests: RCPT to a local part starting with "reject" is
refused (550); a message containing "X-Test-Reject: yes" is refused after
DATA (554).  EHLO also offers PIPELINING, CHUNKING, ENHANCEDSTATUSCODES and
DSN (aiosmtpd does not itself), so the tests can see which of them a proxy
passes or removes.

aiosmtpd 1.4.3 workarounds (shared/recipes/smtp.sh): a failed AUTH must
return handled=False or no reply is sent; on the implicit-TLS listener
auth_require_tls must be off (aiosmtpd does not know the socket is TLS).
"""
import asyncio
import base64
import json
import mailbox
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

d, port, sport, cert, key = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    sys.argv[4], sys.argv[5]
USERS = {b"alice": b"alicepw", b"bob": b"bobpw"}
auth_required = os.environ.get("SMTP_AUTH_REQUIRED", "1") != "0"
data_limit = int(os.environ.get("SMTP_DATA_LIMIT", str(32 << 20)))
box = mailbox.Maildir(os.path.join(d, "maildir"), create=True)
log = open(os.path.join(d, "accepted.log"), "a", buffering=1)


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and \
        USERS.get(auth_data.login) == auth_data.password
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname,
                          responses):
        session.host_name = hostname
        last = responses[-1]
        extra = ["250-PIPELINING", "250-CHUNKING",
                 "250-ENHANCEDSTATUSCODES", "250-DSN"]
        return responses[:-1] + extra + [last]

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        if address.split("@")[0].startswith("reject"):
            return "550 5.1.1 Recipient refused by test policy"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content
        if b"X-Test-Reject: yes" in content:
            return "554 5.7.1 Message refused by test policy"
        user = "-"
        if session.authenticated and session.auth_data:
            ad = session.auth_data
            user = ad.login.decode() if isinstance(ad, LoginPassword) \
                else str(ad)
        name = box.add(content)
        log.write(json.dumps({"file": name, "from": envelope.mail_from,
                              "to": envelope.rcpt_tos, "user": user,
                              "size": len(content)}) + "\n")
        return "250 2.0.0 Message accepted for delivery"

    async def auth_XOAUTH2(self, server, args):
        # base64("user=U\1auth=Bearer T\1\1") as the initial response;
        # a refusal is a 334 JSON challenge first, as Gmail does.
        user = ""
        ok = False
        if len(args) == 2:
            try:
                raw = base64.b64decode(args[1], validate=True).decode()
                parts = dict(p.split("=", 1) for p in raw.split("\1")
                             if "=" in p)
                user = parts.get("user", "")
                ok = user in ("alice", "bob") and \
                    parts.get("auth") == "Bearer token-" + user
            except Exception:
                ok = False
        if not ok:
            await server.challenge_auth('{"status":"401","schemes":'
                                        '"bearer","scope":"mail"}')
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, handled=False,
                          auth_data=LoginPassword(user.encode(), b""))


ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
common = dict(authenticator=authenticator, auth_required=auth_required,
              server_hostname="localhost", data_size_limit=data_limit)
# SMTP_PLAIN_AUTH=1 (benchmarks on loopback): AUTH without STARTTLS.
plain_auth = os.environ.get("SMTP_PLAIN_AUTH", "0") == "1"
c1 = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx,
                require_starttls=False, auth_require_tls=not plain_auth,
                **common)
c2 = Controller(Handler(), hostname="127.0.0.1", port=sport, ssl_context=ctx,
                auth_require_tls=False, **common)
c1.start()
c2.start()
print(f"smtpd ready {port} {sport}", flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
c1.stop()
c2.stop()
