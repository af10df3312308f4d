#!/usr/bin/env python3
"""
bench/head.py: instructions breaktimed spends finding and handling a request
head, counted by callgrind (repeatable, unlike timings on a shared machine).

breaktimed runs under `valgrind --tool=callgrind` with collection switched on
only inside request_read_heads() (proxy/request.c: the end-of-head search, then parsing
and answering the head). A client on 127.0.0.1 sends one 32 KiB request head
(origin-form GET with padding fields; the proxy answers from its own pages,
no origin, no name lookups) either in one write ("once") or one byte per
write with a pause between them ("trickle"), so that nearly every byte is its
own read. Printed: Ir inside read_heads, the number of calls, Ir per call.

    bench/head.py [--breaktimed build-p2-rel/proxy/breaktimed] [--size 32768] [--mode trickle|once]

Slow on purpose (the trickle takes about a minute under callgrind); run it on
a release build (`meson setup build-X --buildtype=release`).
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_head(port, size):
    head = b'GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n' % port
    i = 0
    while len(head) + 2 < size:
        left = size - len(head) - 2
        line = b'X-Pad-%03d: ' % i
        n = min(300, left - len(line) - 2)
        if n < 1:
            head += b'X' * (left - 2) + b'\r\n' if left >= 4 else b''
            break
        head += line + b'a' * n + b'\r\n'
        i += 1
    head += b'\r\n'
    return head


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--breaktimed', default=os.environ.get('BREAKTIMED', 'build-bench/proxy/breaktimed'))
    ap.add_argument('--size', type=int, default=32768)
    ap.add_argument('--mode', choices=('trickle', 'once'), default='trickle')
    ap.add_argument('--pause', type=float, default=0.0015, help='seconds between trickled bytes')
    a = ap.parse_args()
    if not shutil.which('valgrind'):
        sys.exit('valgrind is not installed (apt-get install valgrind)')
    bt = os.path.abspath(a.breaktimed)
    tmp = tempfile.mkdtemp(prefix='breaktime-head.')
    port = free_port()
    conf = os.path.join(tmp, 'breaktime.conf')
    with open(conf, 'w') as f:
        f.write('[proxy]\nlisten = 127.0.0.1:%d\nworkers = 1\nheader_timeout = 10m\n'
                'dns_servers = 127.0.0.1:9\n\n[store]\ndatabase = %s\nlog_other = none\n'
                % (port, os.path.join(tmp, 'store.db')))
    out = os.path.join(tmp, 'callgrind.out')
    err = open(os.path.join(tmp, 'stderr.log'), 'wb')
    proc = subprocess.Popen(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
                             '--collect-atstart=no', '--toggle-collect=request_read_heads', '--compress-strings=no',
                             bt, '-c', conf], stdout=err, stderr=err, stdin=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while b'<6>ready' not in open(err.name, 'rb').read():
            if proc.poll() is not None or time.time() > deadline:
                sys.exit('breaktimed did not start: ' + open(err.name, errors='replace').read()[-500:])
            time.sleep(0.2)
        head = make_head(port, a.size)
        assert len(head) == a.size, len(head)
        s = socket.create_connection(('127.0.0.1', port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t0 = time.time()
        if a.mode == 'once':
            s.sendall(head)
        else:
            for i in range(len(head)):
                s.send(head[i:i + 1])
                time.sleep(a.pause)
        reply = b''
        s.settimeout(60)
        while True:
            d = s.recv(65536)
            if not d:
                break
            reply += d
        s.close()
        took = time.time() - t0
        status = reply.split(b'\r\n', 1)[0].decode(errors='replace')
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    text = open(out).read()
    total = int(re.search(r'^(?:summary|totals): (\d+)', text, re.M).group(1))
    # calls into read_heads from its callers
    calls = 0
    lines = text.split('\n')
    for i, ln in enumerate(lines):
        if ln.startswith('cfn=') and 'read_heads' in ln and lines[i + 1].startswith('calls='):
            calls += int(lines[i + 1].split('=')[1].split()[0])
    print('mode=%s size=%d status=%r client_s=%.1f read_heads: Ir=%d calls=%d Ir/call=%d Ir/byte=%.1f'
          % (a.mode, a.size, status, took, total, calls, total // max(calls, 1), total / a.size))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
