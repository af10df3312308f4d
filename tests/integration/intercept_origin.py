#!/usr/bin/env python3
"""The origin of the intercept tests, run inside the test's origin network
namespace: HTTP on port 80 and HTTPS on port 443 (certificate and key from
the arguments), IPv4 and IPv6. Every answer says which Host it got and how
the request head looked, so the test can see what the gateway forwarded. Pages under /h3/ are HTML
and announce HTTP/3 on UDP 443 (Alt-Svc), as a QUIC-capable origin's do, so
a browser tries QUIC on its next visit; each is the last answer on its
connection. UDP 443 is bound and silent, as a QUIC origin the client cannot
reach would be. Each request head, and each datagram that reaches UDP 443,
is appended to LOG (one JSON line) for the test to read.

    intercept_origin.py CERT KEY LOG
"""
import http.server
import json
import socket
import ssl
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        with open(sys.argv[3], 'a') as f:
            f.write(json.dumps({'port': self.server.server_address[1], 'path': self.path,
                                'headers': [[k, v] for k, v in self.headers.items()]}) + '\n')
        body = ('origin saw Host %s\n' % self.headers.get('Host', '')).encode()
        h3 = self.path.startswith('/h3/')
        if h3:
            body = b'<!doctype html><title>h3</title><link rel="icon" href="data:,"><p>' + body
        self.send_response(200)
        self.send_header('Content-Type', 'text/html' if h3 else 'text/plain')
        self.send_header('Content-Length', str(len(body)))
        if h3 and self.server.server_address[1] == 443:
            self.send_header('Alt-Svc', 'h3=":443"; ma=3600')
        if h3:
            self.send_header('Connection', 'close')
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def main():
    plain = Server(('::', 80), Handler)
    tls = Server(('::', 443), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    # a QUIC origin stands here: UDP 443 is taken and never answered, so a
    # client hears of its packets only if the gateway refuses them
    quic = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    quic.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    quic.bind(('::', 443))
    def udp():
        while True:
            data, peer = quic.recvfrom(2048)
            with open(sys.argv[3], 'a') as f:
                f.write(json.dumps({'udp': peer[0], 'len': len(data)}) + '\n')
    threading.Thread(target=udp, daemon=True).start()
    print('ready', flush=True)
    plain.serve_forever()


if __name__ == '__main__':
    main()
