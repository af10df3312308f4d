#!/usr/bin/env python3
"""The origin of the intercept tests, run inside the test's origin network
namespace: HTTP on port 80 and HTTPS on port 443 (certificate and key from
the arguments), IPv4 and IPv6. Every answer says which Host it got and how
the request head looked, so the test can see what the gateway forwarded. UDP 443
is bound and silent, as a QUIC origin the client cannot reach would be.
Each request head is appended to LOG (one JSON line) for the test to read.

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
        self.send_response(200)
        self.send_header('Content-Type', 'text/plain')
        self.send_header('Content-Length', str(len(body)))
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
    threading.Thread(target=lambda: [quic.recv(2048) for _ in iter(int, 1)], daemon=True).start()
    print('ready', flush=True)
    plain.serve_forever()


if __name__ == '__main__':
    main()
