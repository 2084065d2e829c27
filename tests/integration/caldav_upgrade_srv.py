"""caldav_upgrade_srv.py PORT - a scripted upstream that answers any
request with 101 Switching Protocols and then echoes bytes upper-cased.
Scripted because no real CalDAV server upgrades a connection; it checks
that the proxy turns such a connection into a plain byte tunnel.
Standard library only; plain TCP on 127.0.0.1."""
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(('127.0.0.1', int(sys.argv[1]))); srv.listen(5)
def serve(c):
    f = c.makefile('rb')
    while f.readline() not in (b'\r\n', b''):
        pass
    c.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
    while True:
        b = c.recv(4096)
        if not b:
            break
        c.sendall(b.upper())
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
