#!/usr/bin/env python3
"""A tiny OAuth 2.0 token-introspection endpoint (RFC 7662) for tests.

    introspect.py PORT TOKENS_FILE LOG_FILE

TOKENS_FILE has one "token username" pair a line.  A POST (form field
"token", Dovecot's introspection_mode = post) or GET (?token= or
"Authorization: Bearer", modes get/auth) answers
    {"active": true, "username": USER, "scope": "mail", ...}
for a known token and {"active": false} otherwise, as RFC 7662 section 2.2
asks for unknown or expired tokens.  Every lookup is appended to LOG_FILE as
"introspect TOKEN -> USER|inactive", so a test can prove which token reached
the upstream.  The tokens are test values; nothing secret is logged.
"""
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def load_tokens(path):
    tokens = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and not parts[0].startswith("#"):
                tokens[parts[0]] = parts[1]
    return tokens


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, token):
        tokens = load_tokens(self.server.tokens_file)
        user = tokens.get(token or "")
        if user:
            now = int(time.time())
            body = {"active": True, "username": user, "scope": "mail",
                    "token_type": "Bearer", "iat": now, "exp": now + 3600,
                    "client_id": "crm-proxy-tests"}
        else:
            body = {"active": False}
        with open(self.server.log_file, "a", encoding="utf-8") as f:
            f.write("introspect %s %s -> %s\n"
                    % (self.command, token, user or "inactive"))
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        self._answer((form.get("token") or [None])[0])

    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        token = (q.get("token") or q.get("access_token") or [None])[0]
        auth = self.headers.get("Authorization") or ""
        if token is None and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        self._answer(token)

    def log_message(self, fmt, *args):
        pass


def main():
    port, tokens_file, log_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    srv = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.tokens_file, srv.log_file = tokens_file, log_file
    srv.serve_forever()


if __name__ == "__main__":
    main()
