#!/usr/bin/env python3
"""bench/reload.py: what a reload with a large hosts_file costs the requests.

    BREAKTIMED=build/proxy/breaktimed python3 bench/reload.py [-n NAMES] [-r RELOADS]

Starts breaktimed (2 workers) on 127.0.0.1 with a hosts_file of NAMES lines
(`127.0.0.1 hN.bulk.test`), a small local origin, and measures:

  1. names/s: sequential requests, each to another name of the hosts file
     (so each one is a lookup: the upstream pool is per name), for 3 s;
  2. latency while reloading: one client sends requests back to back (each
     on a new connection, to an IP literal: no lookup) while the main
     process gets SIGHUP RELOADS times, 0.3 s apart; the same for as long
     without reloads. Printed: requests, median, 99th percentile and the
     longest, in ms.

Nothing is asserted: the numbers depend on the machine and its load.
Everything stays on loopback; nothing is asked of a DNS server
(dns_servers = 127.0.0.1:1, where nothing listens). Processes are ended by PID.
"""
import argparse
import http.server
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        # one write: headers and body in separate segments meet Nagle and a
        # delayed ACK; no keep-alive: a reload empties the proxy's idle pool,
        # and hundreds of this origin's threads waking at once to see their
        # connections close would be measured instead of the proxy
        self.wfile.write(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok')
        self.close_connection = True

    def log_message(self, *a):
        pass


class Origin(http.server.ThreadingHTTPServer):
    request_queue_size = 1024       # not 5: no SYN retransmission (1 s) measured
    daemon_threads = True


def request(port, target, host):
    t0 = time.monotonic()
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    s.sendall(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' % (target, host)).encode())
    data = b''
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
    s.close()
    return time.monotonic() - t0, data[:12]


def latencies(port, origin, seconds, during=None):
    out = []
    stop = threading.Event()

    def client():
        while not stop.is_set():
            dt, head = request(port, 'http://127.0.0.1:%d/' % origin, '127.0.0.1:%d' % origin)
            if head != b'HTTP/1.1 200':
                raise SystemExit('unexpected answer %r' % head)
            out.append(dt * 1000)
    th = threading.Thread(target=client)
    th.start()
    if during:
        during()
    else:
        time.sleep(seconds)
    stop.set()
    th.join()
    return out


def summary(name, ms):
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print('%-24s %6d requests  median %6.2f ms  p99 %7.2f ms  max %7.2f ms'
          % (name, len(ms), statistics.median(ms), p99, ms[-1]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('-n', type=int, default=200000, help='names in the hosts file')
    ap.add_argument('-r', type=int, default=20, help='reloads')
    args = ap.parse_args()
    bt = os.path.abspath(os.environ.get('BREAKTIMED', 'build/proxy/breaktimed'))
    tmp = tempfile.mkdtemp(prefix='bt-bench-reload-')
    srv = Origin(('127.0.0.1', 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    origin = srv.server_address[1]
    hosts = os.path.join(tmp, 'hosts')
    with open(hosts, 'w') as f:
        f.writelines('127.0.0.1 h%d.bulk.test\n' % i for i in range(args.n))
    conf = os.path.join(tmp, 'breaktime.conf')
    with open(conf, 'w') as f:
        f.write('[proxy]\nlisten = 127.0.0.1:0\nworkers = 2\nallow_loopback_upstream = yes\n'
                'dns_servers = 127.0.0.1:1\nhosts_file = %s\nmax_connections_per_client = 10000\n'
                '[store]\ndatabase = %s/bt.db\n' % (hosts, tmp))
    log = open(os.path.join(tmp, 'stderr.log'), 'wb+')
    p = None
    try:
        p = subprocess.Popen([bt, '-c', conf], stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=tmp)
        port = None
        for _ in range(600):
            log.seek(0)
            text = log.read().decode('utf-8', 'replace')
            m = re.search(r'listening on 127\.0\.0\.1:(\d+)', text)
            if m and '<6>ready' in text:
                port = int(m.group(1))
                break
            if p.poll() is not None:
                raise SystemExit('breaktimed exited:\n' + text[-2000:])
            time.sleep(0.05)
        if not port:
            raise SystemExit('breaktimed not ready')
        print('%s, hosts_file of %d names, 2 workers' % (bt, args.n))
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 3:
            i = (n * 7919) % args.n
            _, head = request(port, 'http://h%d.bulk.test:%d/' % (i, origin), 'h%d.bulk.test' % i)
            if head != b'HTTP/1.1 200':
                raise SystemExit('h%d.bulk.test: %r' % (i, head))
            n += 1
        print('%-24s %6d requests  %8.1f names/s' % ('hosts-file names', n, n / (time.monotonic() - t0)))
        span = args.r * 0.3
        summary('no reload', latencies(port, origin, span))

        def reloads():
            for _ in range(args.r):
                p.send_signal(signal.SIGHUP)
                time.sleep(0.3)
        summary('%d reloads' % args.r, latencies(port, origin, span, reloads))
        log.seek(0)
        done = log.read().decode('utf-8', 'replace').count('configuration reloaded')
        print('reloads logged as done: %d of %d' % (done, args.r))
    finally:
        if p:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        srv.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
