#!/usr/bin/env python3
"""
bench/keepalive_ir.py: instructions breaktimed spends per keep-alive request,
counted by callgrind (repeatable on a shared machine, unlike timings).

breaktimed (workers = 1, a store, no policy) runs under
`valgrind --tool=callgrind` twice, relaying N1 and then N2 GETs on one
keep-alive connection to a local nginx; the difference of the two totals
over N2 - N1 cancels start-up and shutdown. The same script on two builds
is the guard rail for changes to the request path.

    bench/keepalive_ir.py BREAKTIMED [N1 [N2]]     (default 200 3200; ~2 minutes)
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
bt = sys.argv[1]
def free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
tmp = tempfile.mkdtemp()
op = free_port()
open(tmp + '/nginx.conf', 'w').write('''daemon off; worker_processes 1; error_log %s/err.log; pid %s/nginx.pid;
events { worker_connections 64; }
http { access_log off; keepalive_requests 100000;
 server { listen 127.0.0.1:%d; location / { return 200 "hello world\\n"; } } }''' % (tmp, tmp, op))
ng = subprocess.Popen(['nginx', '-p', tmp, '-c', tmp + '/nginx.conf'], stderr=subprocess.DEVNULL)
time.sleep(0.5)
def run(n):
    pp = free_port()
    conf = tmp + '/bt.conf'
    open(conf, 'w').write('[proxy]\nlisten = 127.0.0.1:%d\nworkers = 1\nallow_loopback_upstream = yes\n'
                          'dns_servers = 127.0.0.1:9\n\n[store]\ndatabase = %s/bt%d.db\n' % (pp, tmp, n))
    out = '%s/cg.%d' % (tmp, n)
    p = subprocess.Popen(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out, bt, '-c', conf],
                         stdout=subprocess.DEVNULL, stderr=open(tmp + '/vg%d.log' % n, 'w'))
    for _ in range(300):
        try:
            s = socket.create_connection(('127.0.0.1', pp)); break
        except OSError:
            time.sleep(0.1)
    req = b'GET http://127.0.0.1:%d/x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUser-Agent: cg\r\nAccept: */*\r\n\r\n' % (op, op)
    ok = 0
    f = s.makefile('rb')
    for i in range(n):
        s.sendall(req)
        line = f.readline()
        clen = 0
        while True:
            h = f.readline()
            if h in (b'\r\n', b''): break
            if h.lower().startswith(b'content-length:'): clen = int(h.split(b':')[1])
        f.read(clen)
        ok += line.startswith(b'HTTP/1.1 200')
    s.close()
    time.sleep(0.5)
    p.send_signal(signal.SIGTERM); p.wait(60)
    tot = 0
    for ln in open(out):
        if ln.startswith('summary:') or ln.startswith('totals:'):
            tot = int(ln.split()[1])
    return tot, ok
n1 = int(sys.argv[2]) if len(sys.argv) > 2 else 200
n2 = int(sys.argv[3]) if len(sys.argv) > 3 else 3200
a, oka = run(n1)
b, okb = run(n2)
ng.terminate(); ng.wait()
shutil.rmtree(tmp, ignore_errors=True)
print('%s: ok %d/%d %d/%d  Ir per keep-alive request: %.0f' % (bt, oka, n1, okb, n2, (b - a) / (n2 - n1)))
