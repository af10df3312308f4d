#!/usr/bin/env python3
"""
bench/tls_pages.py: block pages over HTTPS (block_ca) per breaktimed
CPU-second, with the leaf already cached (goal: a cached block-page
handshake plus page at least 2,000 per second per core).

breaktimed (release build, workers = 1) runs on 127.0.0.1 with a block CA
and a policy that blocks Instagram at any hour (students present all week,
everyone staff); www.instagram.com maps to 127.0.0.1 in its hosts file, so
nothing is ever looked up or leaves loopback. One request first mints the
leaf (the cache holds it from then on). Then, per round and mode, CLIENTS
processes for DURATION s, each one connection after another: TCP connect,
`CONNECT www.instagram.com:443`, a TLS handshake verified against the CA
(SNI www.instagram.com), `GET /`, the whole 403 page read, close.

  full     every handshake full (no session offered: TLS 1.3, X25519, the
           leaf's ECDSA P-256 signature)
  resume   each client offers the ticket of its previous connection (TLS 1.3
           PSK resumption with a fresh X25519 exchange, no signature)
  nginx    the reference: the same clients straight to nginx (one worker),
           which serves the same page bytes with a P-256 leaf the same CA
           signed and the CA in its chain; full handshakes, no CONNECT

The modes take turns within each round (the order reversed every other
round), so a change in what else the machine does hits them alike. Server
and clients are pinned apart (server on the first CPU, clients on the
others) when there are two or more.

Printed per mode: pages completed, pages per server CPU-second (utime +
stime of all its threads, /proc/PID/stat, over the load window; the median
round), the wall rate, and the clients' own CPU; the goal line; the tls
counters of /metrics over the load, open fds and RSS after it. Then the leaf
mint rate from blockca_bench when the build has it; with --callgrind,
breaktimed's instructions per page under callgrind (full and resumed,
repeatable on a busy machine; user space only) and the functions they go
to; with --perf, perf record of breaktimed during one more full round.

    bench/tls_pages.py [--breaktimed build-bench/proxy/breaktimed]
                       [--clients 3] [--duration 8] [--rounds 3]
                       [--modes full,resume,nginx] [--callgrind] [--perf]
                       [--json FILE]

BREAKTIMED in the environment also names the daemon; breaktime (for
`breaktime ca create`) and blockca_bench are looked for in the same build
directory (--breaktime, --blockca-bench to override). Without
`breaktime ca create` the CA is made with openssl as it would make it
(ECDSA P-256, CA:TRUE and keyUsage critical, critical nameConstraints
permitting the catalog's domains and excluding all addresses).
"""
import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAME = 'www.instagram.com'
CLK_TCK = os.sysconf('SC_CLK_TCK')


def cpu_s(pid):
    """utime + stime of a process (all its threads)."""
    with open('/proc/%d/stat' % pid) as f:
        v = f.read().rsplit(')', 1)[1].split()
    return (int(v[11]) + int(v[12])) / CLK_TCK


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def machine_busy():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) / CLK_TCK


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


def catalog_domains(path):
    """Every DOMAIN of a platforms.list (see its FORMAT comment)."""
    out = []
    for line in open(path):
        line = line.split('#', 1)[0]
        if not line.strip():
            continue
        words = line.split()
        out += words if line[0] in ' \t' else words[2:]
    return sorted(set(d.lower().rstrip('.') for d in out))


def make_ca(tmp, breaktime, conf, catalog):
    """(cert, key, how): `breaktime ca create` when the build has it, else openssl."""
    cadir = os.path.join(tmp, 'ca')
    if breaktime and os.access(breaktime, os.X_OK):
        p = subprocess.run([breaktime, '-c', conf, 'ca', 'create', '-o', cadir], capture_output=True, text=True)
        if p.returncode == 0:
            return (os.path.join(cadir, 'breaktime-ca.pem'), os.path.join(cadir, 'breaktime-ca.key'),
                    'breaktime ca create')
        shutil.rmtree(cadir, ignore_errors=True)
    os.mkdir(cadir)
    names = ','.join('permitted;DNS:' + d for d in catalog_domains(catalog))
    cnf = os.path.join(tmp, 'ca.cnf')
    open(cnf, 'w').write(
        '[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n'
        '[dn]\nCN = breaktime bench block-page CA\n'
        '[v3]\nbasicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,keyCertSign,cRLSign\n'
        'extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n'
        'nameConstraints = critical,%s,excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::\n' % names)
    cert, key = os.path.join(cadir, 'breaktime-ca.pem'), os.path.join(cadir, 'breaktime-ca.key')
    old = os.umask(0o077)
    try:
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                        '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-config', cnf],
                       check=True, capture_output=True)
    finally:
        os.umask(old)
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key, 'openssl (no `breaktime ca create` in this build)'


def one_page(port, ctx, session, direct=False):
    """One connection: CONNECT (not when direct), TLS, GET /, the whole
    page (a 403 through breaktimed, a 200 from the direct server).
    (ok, resumed, session)."""
    s = socket.create_connection(('127.0.0.1', port))
    try:
        if not direct:
            s.sendall(b'CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\nUser-Agent: tls-pages-bench\r\n\r\n'
                      % (NAME.encode(), NAME.encode()))
            buf = b''
            while b'\r\n\r\n' not in buf:
                b = s.recv(4096)
                if not b:
                    return False, False, session
                buf += b
            if not buf.startswith(b'HTTP/1.1 200'):
                return False, False, session
        t = ctx.wrap_socket(s, server_hostname=NAME, session=session)
        s = t
        t.sendall(b'GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: tls-pages-bench\r\nAccept: text/html\r\n\r\n'
                  % NAME.encode())
        got = b''
        while b'\r\n\r\n' not in got:
            b = t.recv(16384)
            if not b:
                return False, False, session
            got += b
        head, body = got.split(b'\r\n\r\n', 1)
        m = re.search(rb'\r\ncontent-length: *(\d+)', head, re.I)
        want = int(m.group(1)) if m else None
        while want is None or len(body) < want:
            b = t.recv(16384)
            if not b:
                break
            body += b
        ok = head.startswith(b'HTTP/1.1 200' if direct else b'HTTP/1.1 403') and (want is None or len(body) == want) \
            and b'instagram' in body
        return ok, t.session_reused, t.session
    except (OSError, ssl.SSLError):
        return False, False, session
    finally:
        s.close()


def client(port, cafile, resume, direct, start, stop, cpus, q):
    if cpus:
        os.sched_setaffinity(0, cpus)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.set_alpn_protocols(['http/1.1'])
    session = None
    ok = bad = resumed = 0
    while time.time() < start:
        time.sleep(0.001)
    while time.time() < stop:
        good, was_resumed, sess = one_page(port, ctx, session, direct)
        if good:
            ok += 1
            resumed += was_resumed
            if resume:
                session = sess
        else:
            bad += 1
    ru = os.times()
    q.put((ok, bad, resumed, ru.user + ru.system))


def load(port, cafile, server_pid, resume, direct, clients, duration, client_cpus):
    """CLIENTS processes for DURATION s; the server's CPU over the window."""
    q = multiprocessing.Queue()
    start = time.time() + 0.3
    procs = [multiprocessing.Process(target=client, args=(port, cafile, resume, direct, start, start + duration,
                                                          client_cpus, q))
             for _ in range(clients)]
    for p in procs:
        p.start()
    while time.time() < start:
        time.sleep(0.0005)
    c0, m0, t0 = cpu_s(server_pid), machine_busy(), time.monotonic()
    res = [q.get() for _ in procs]
    c1, m1, t1 = cpu_s(server_pid), machine_busy(), time.monotonic()
    for p in procs:
        p.join()
    ok = sum(r[0] for r in res)
    return {'pages': ok, 'failed': sum(r[1] for r in res), 'resumed': sum(r[2] for r in res),
            'server_cpu_s': round(c1 - c0, 3), 'wall_s': round(t1 - t0, 3),
            'clients_cpu_s': round(sum(r[3] for r in res), 2), 'machine_busy_s': round(m1 - m0, 2),
            'pages_per_cpu_s': round(ok / (c1 - c0), 1) if c1 > c0 else None,
            'pages_per_s': round(ok / (t1 - t0), 1)}


def metrics(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(b'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
    data = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    s.close()
    out = {}
    for m in re.finditer(rb'^(breaktime_[a-z_]+(?:\{[^}]*\})?) (\d+)$', data, re.M):
        out[m.group(1).decode()] = int(m.group(2))
    return out


def block_page(port, cafile):
    """The block page's body through breaktimed (also mints the leaf)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    s = socket.create_connection(('127.0.0.1', port))
    s.sendall(b'CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n' % (NAME.encode(), NAME.encode()))
    buf = b''
    while b'\r\n\r\n' not in buf:
        buf += s.recv(4096)
    t = ctx.wrap_socket(s, server_hostname=NAME)
    t.sendall(b'GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' % NAME.encode())
    got = b''
    while True:
        b = t.recv(16384)
        if not b:
            break
        got += b
    t.close()
    return got.split(b'\r\n\r\n', 1)[1] if got.startswith(b'HTTP/1.1 403') else None


def start_nginx(tmp, ca_cert, ca_key, page, pin_cpu):
    """nginx (one worker) on 127.0.0.1 serving page at / over TLS 1.2-1.3 with
    a P-256 leaf for NAME that the CA signs, like breaktimed's leaves.
    (master Popen, worker pid, port)."""
    d = os.path.join(tmp, 'nginx')
    os.mkdir(d)
    os.chmod(tmp, 0o755)  # the worker runs as nobody
    os.chmod(d, 0o755)
    leaf, lkey = os.path.join(d, 'leaf.pem'), os.path.join(d, 'leaf.key')
    csr, ext = os.path.join(d, 'leaf.csr'), os.path.join(d, 'leaf.ext')
    subprocess.run(['openssl', 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
                    '-keyout', lkey, '-out', csr, '-subj', '/CN=' + NAME], check=True, capture_output=True)
    open(ext, 'w').write('subjectAltName = DNS:%s\nbasicConstraints = CA:FALSE\nkeyUsage = critical,'
                         'digitalSignature\nextendedKeyUsage = serverAuth\n' % NAME)
    subprocess.run(['openssl', 'x509', '-req', '-in', csr, '-CA', ca_cert, '-CAkey', ca_key, '-set_serial', '1',
                    '-out', leaf, '-days', '1', '-extfile', ext], check=True, capture_output=True)
    open(os.path.join(d, 'chain.pem'), 'w').write(open(leaf).read() + open(ca_cert).read())
    open(os.path.join(d, 'index.html'), 'wb').write(page)
    port = free_port()
    open(os.path.join(d, 'nginx.conf'), 'w').write(
        'daemon off; worker_processes 1; error_log %s/error.log; pid %s/nginx.pid;\n'
        'events { worker_connections 4096; }\n'
        'http { access_log off; server { listen 127.0.0.1:%d ssl; ssl_protocols TLSv1.2 TLSv1.3;\n'
        ' ssl_certificate %s/chain.pem; ssl_certificate_key %s; root %s; } }\n' % (d, d, port, d, lkey, d))
    cmd = (['taskset', '-c', str(pin_cpu)] if pin_cpu is not None else []) + \
        ['nginx', '-p', d, '-c', os.path.join(d, 'nginx.conf')]
    ng = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    for _ in range(100):
        kids = [int(x) for x in open('/proc/%d/task/%d/children' % (ng.pid, ng.pid)).read().split()] \
            if ng.poll() is None else []
        if kids:
            try:
                socket.create_connection(('127.0.0.1', port), timeout=1).close()
                return ng, kids[0], port
            except OSError:
                pass
        time.sleep(0.1)
    ng.terminate()
    return None, None, None


def write_conf(conf, port, tmp, cert, key, policy, db='store.db'):
    open(conf, 'w').write(
        '[proxy]\nlisten = 127.0.0.1:%d\nworkers = 1\nallow_loopback_upstream = yes\n'
        'dns_servers = 127.0.0.1:1\nhosts_file = %s/hosts\nblock_ca = %s\nblock_ca_key = %s\n'
        'max_connections_per_client = 4096\n[store]\ndatabase = %s/%s\n%s'
        % (port, tmp, cert, key, tmp, db, policy))


def start_breaktimed(cmd, log, secs=10):
    """Popen of cmd (breaktimed, perhaps under taskset or valgrind) once it logged ready."""
    bp = subprocess.Popen(cmd, stdout=open(log, 'w'), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline and bp.poll() is None:
        if 'ready' in open(log).read():
            return bp
        time.sleep(0.1)
    if bp.poll() is None:
        bp.kill()
        bp.wait()
    sys.exit('breaktimed did not start:\n' + open(log).read()[-3000:])


def callgrind(bt, tmp, cert, key, policy, n1, n2):
    """Instructions breaktimed spends per page (user space: the kernel's part is
    not counted), full and resumed: callgrind totals of a run with n1 pages
    and one with n2, one connection after another, differenced over n2 - n1
    (start-up, the first mint and shutdown cancel out). Also the functions
    whose inclusive count grows most per full page (the top 25, and
    breaktimed's own from 0.5 %)."""
    out, top = {}, []
    for mode in ('full', 'resume'):
        tot = {}
        for n in (n1, n2):
            port = free_port()
            conf = os.path.join(tmp, 'cg-%s-%d.conf' % (mode, n))
            write_conf(conf, port, tmp, cert, key, policy, db='cg-%s-%d.db' % (mode, n))
            cgout = os.path.join(tmp, 'callgrind.%s.%d' % (mode, n))
            bp = start_breaktimed(['valgrind', '--tool=callgrind', '--callgrind-out-file=' + cgout, bt, '-c', conf],
                                  os.path.join(tmp, 'cg.log'), secs=60)
            try:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.load_verify_locations(cert)
                session, good = None, 0
                for _ in range(n + 1):  # the first one mints the leaf
                    ok, resumed, sess = one_page(port, ctx, session)
                    good += ok
                    if mode == 'resume':
                        session = sess
                time.sleep(0.5)
            finally:
                bp.terminate()
                bp.wait(120)
            if good != n + 1:
                sys.exit('callgrind %s: %d of %d pages' % (mode, good, n + 1))
            tot[n] = cgout
        incl = [cg_inclusive(tot[n]) for n in (n1, n2)]
        per = (incl[1]['PROGRAM TOTALS'] - incl[0]['PROGRAM TOTALS']) / (n2 - n1)
        out[mode] = round(per)
        if mode == 'full':
            rows = sorted(((v - incl[0].get(k, 0)) / (n2 - n1), k) for k, v in incl[1].items()
                          if '???:0x' not in k and k != 'PROGRAM TOTALS')
            own = '[%s]' % os.path.basename(bt)
            pick = rows[-25:] + [r for r in rows[:-25] if r[1].endswith(own) and r[0] >= per / 200]
            top = ['%9.0f %5.1f%%  %s' % (d, 100 * d / per, k) for d, k in sorted(pick, reverse=True)]
    return out, top


def cg_inclusive(path):
    """{function: inclusive Ir} from callgrind_annotate."""
    r = subprocess.run(['callgrind_annotate', '--inclusive=yes', '--threshold=100', path],
                       capture_output=True, text=True)
    d = {}
    for ln in r.stdout.splitlines():
        m = re.match(r'\s*([\d,]+) \([^)]*\)\s+(\S.*)$', ln)
        if m:
            k = re.sub(r' \[[^]]*/([^/\]]+)\]$', r' [\1]', m.group(2))
            d[k] = max(d.get(k, 0), int(m.group(1).replace(',', '')))
    return d


def perf_profile(pid, secs, tmp):
    """Where breaktimed's CPU went: self time by shared object, and the
    inclusive share of named functions (perf record with DWARF call graphs)."""
    data = os.path.join(tmp, 'perf.data')
    p = subprocess.run(['perf', 'record', '-q', '-F', '499', '--call-graph', 'dwarf,16384', '-p', str(pid),
                        '-o', data, '--', 'sleep', str(secs)], capture_output=True, text=True)
    if p.returncode != 0:
        return 'perf record failed: ' + p.stderr.strip()[-300:]
    out = []
    r = subprocess.run(['perf', 'report', '-i', data, '--no-children', '--sort', 'dso', '--stdio', '-g', 'none',
                        '--percent-limit', '0.5'], capture_output=True, text=True)
    out.append('self, by shared object:\n' + '\n'.join(
        ln for ln in r.stdout.splitlines() if ln.strip() and not ln.startswith('#')))
    r = subprocess.run(['perf', 'report', '-i', data, '--children', '--sort', 'sym', '--stdio', '-g', 'none',
                        '--percent-limit', '1'], capture_output=True, text=True)
    # unnamed frames (static functions of the stripped libraries) say nothing
    named = [ln for ln in r.stdout.splitlines() if '[.]' in ln and ' 0x0000' not in ln]
    out.append('inclusive (children), named functions:\n' + '\n'.join(named[:40]))
    return '\n\n'.join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--breaktimed', default=os.environ.get('BREAKTIMED') or
                    os.path.join(ROOT, 'build-bench', 'proxy', 'breaktimed'))
    ap.add_argument('--breaktime', help='for `breaktime ca create` (default: BUILD/reports/breaktime)')
    ap.add_argument('--blockca-bench', help='default: BUILD/bench/blockca_bench')
    ap.add_argument('--clients', type=int, default=3, help='client processes (1-32)')
    ap.add_argument('--duration', type=float, default=8, help='seconds per round and mode (1-60)')
    ap.add_argument('--rounds', type=int, default=3, help='rounds of every mode (1-10)')
    ap.add_argument('--modes', default='full,resume,nginx',
                    help='any of full, resume (through breaktimed), nginx (the reference)')
    ap.add_argument('--no-pin', action='store_true', help='do not put the server on CPU 0 and clients on the rest')
    ap.add_argument('--perf', action='store_true', help='perf record breaktimed during one more full round')
    ap.add_argument('--callgrind', action='store_true',
                    help='also instructions per page under callgrind (full and resumed; ~2 minutes more)')
    ap.add_argument('--json', help='write the results here')
    a = ap.parse_args()
    if not (1 <= a.clients <= 32 and 1 <= a.duration <= 60 and 1 <= a.rounds <= 10):
        sys.exit('tls_pages.py: --clients 1-32, --duration 1-60, --rounds 1-10')
    modes = [m for m in a.modes.split(',') if m]
    if not modes or any(m not in ('full', 'resume', 'nginx') for m in modes):
        sys.exit('tls_pages.py: --modes is a list of full, resume, nginx')
    notes = []
    if 'nginx' in modes and not shutil.which('nginx'):
        modes.remove('nginx')
        notes.append('nginx reference: skipped, nginx is not installed')
    bt = os.path.abspath(a.breaktimed)
    if not os.access(bt, os.X_OK):
        sys.exit('tls_pages.py: no breaktimed at %s (meson setup build-bench --buildtype=release && '
                 'meson compile -C build-bench)' % bt)
    build = os.path.dirname(os.path.dirname(bt))
    breaktime = a.breaktime or os.path.join(build, 'reports', 'breaktime')
    mintb = a.blockca_bench or os.path.join(build, 'bench', 'blockca_bench')
    cpus = sorted(os.sched_getaffinity(0))
    pin = not a.no_pin and len(cpus) >= 2 and bool(shutil.which('taskset'))
    client_cpus = set(cpus[1:]) if pin else None

    tmp = tempfile.mkdtemp(prefix='bt-bench-tlsp-')
    bp = ng = None
    try:
        port = free_port()
        catalog = os.path.join(ROOT, 'config', 'platforms.list')
        open(os.path.join(tmp, 'hosts'), 'w').write('127.0.0.1 %s\n' % NAME)
        policy = ('[site]\ntimezone = UTC\n[schedule]\nstudents = mon-sun 00:00-24:00\n'
                  '[auth]\ndefault_group = staff\n[catalog]\nplatforms = %s\n' % catalog)
        conf = os.path.join(tmp, 'bt.conf')
        # without the CA first, for `breaktime ca create` (it reads the catalog)
        open(conf, 'w').write(policy)
        cert, key, how = make_ca(tmp, breaktime, conf, catalog)
        write_conf(conf, port, tmp, cert, key, policy)
        log = os.path.join(tmp, 'bt.log')
        bp = start_breaktimed((['taskset', '-c', str(cpus[0])] if pin else []) + [bt, '-c', conf], log)
        page = block_page(port, cert)  # mints the leaf: the cache holds it from here on
        if page is None:
            sys.exit('the warm-up request got no block page over TLS:\n' + open(log).read()[-2000:])
        servers = {'full': (port, bp.pid, False), 'resume': (port, bp.pid, False)}
        if 'nginx' in modes:
            ng, ng_pid, ng_port = start_nginx(tmp, cert, key, page, cpus[0] if pin else None)
            if ng:
                servers['nginx'] = (ng_port, ng_pid, True)
            else:
                modes.remove('nginx')
                notes.append('nginx reference: skipped, nginx did not start')
        m0 = metrics(port)
        rss0 = rss_kib(bp.pid)
        print('breaktimed %s (pid %d%s), CA by %s, %d client processes%s, %gs per round and mode, %d rounds'
              % (bt, bp.pid, ', CPU %d' % cpus[0] if pin else '', how, a.clients,
                 ' on CPU %s' % ','.join(map(str, sorted(client_cpus))) if pin else '', a.duration, a.rounds))
        print('block page: %d bytes; load average before: %s'
              % (len(page), ' '.join(open('/proc/loadavg').read().split()[:3])))
        runs = {m: [] for m in modes}
        for r in range(a.rounds):
            for mode in (modes if r % 2 == 0 else modes[::-1]):
                sport, spid, direct = servers[mode]
                res = load(sport, cert, spid, mode == 'resume', direct, a.clients, a.duration, client_cpus)
                runs[mode].append(res)
                print('  round %d %-6s %6d pages (%d failed, %d resumed) in %.1fs: %6.0f/s wall, '
                      'server %.2f CPU-s = %5.0f pages per CPU-s; clients %.1f CPU-s, machine busy %.1f s'
                      % (r + 1, mode, res['pages'], res['failed'], res['resumed'], res['wall_s'],
                         res['pages_per_s'], res['server_cpu_s'], res['pages_per_cpu_s'] or 0,
                         res['clients_cpu_s'], res['machine_busy_s']))
        profile = None
        if a.perf:
            if shutil.which('perf'):
                q = multiprocessing.Process(target=load, args=(port, cert, bp.pid, False, False, a.clients,
                                                               min(a.duration, 8), client_cpus))
                q.start()
                time.sleep(1)
                profile = perf_profile(bp.pid, max(1, int(min(a.duration, 8)) - 2), tmp)
                q.join()
            else:
                notes.append('perf: not installed')
        time.sleep(0.5)
        m1 = metrics(port)
        rss1 = rss_kib(bp.pid)
        fds = len(os.listdir('/proc/%d/fd' % bp.pid))
        mint = None
        if os.access(mintb, os.X_OK):
            p = subprocess.run((['taskset', '-c', str(cpus[0])] if pin else []) + [mintb],
                               capture_output=True, text=True, timeout=120)
            mint = (p.stdout + p.stderr).strip()
        else:
            notes.append('leaf minting: skipped, no blockca_bench at %s' % mintb)
        cg, cg_top = None, []
        if a.callgrind:
            if shutil.which('valgrind') and shutil.which('callgrind_annotate'):
                cg, cg_top = callgrind(bt, tmp, cert, key, policy, 50, 250)
            else:
                notes.append('callgrind: skipped, valgrind is not installed')
        summary = {}
        print()
        for mode in modes:
            rs = runs[mode]
            med = statistics.median(x['pages_per_cpu_s'] or 0 for x in rs)
            summary[mode] = {
                'pages': sum(x['pages'] for x in rs), 'failed': sum(x['failed'] for x in rs),
                'resumed': sum(x['resumed'] for x in rs),
                'pages_per_cpu_s_median': med,
                'pages_per_cpu_s_rounds': [x['pages_per_cpu_s'] for x in rs],
                'us_cpu_per_page_median': round(1e6 / med, 1) if med else None,
                'pages_per_s_median': statistics.median(x['pages_per_s'] for x in rs)}
            s = summary[mode]
            print('%-6s %7d pages, %d failed, %d resumed; median %5.0f pages per %s CPU-second '
                  '(%4.0f us each; rounds %s); median wall rate %.0f/s'
                  % (mode, s['pages'], s['failed'], s['resumed'], med, 'nginx' if mode == 'nginx' else
                     'breaktimed', s['us_cpu_per_page_median'] or 0,
                     ', '.join('%.0f' % (x or 0) for x in s['pages_per_cpu_s_rounds']), s['pages_per_s_median']))
        if 'full' in summary:
            v = summary['full']['pages_per_cpu_s_median']
            print('goal: cached block-page handshake + page >= 2,000 per CPU-second: %s (%.0f)'
                  % ('PASS' if v >= 2000 else 'FAIL', v))
            if 'nginx' in summary and summary['nginx']['pages_per_cpu_s_median']:
                ratio = v / summary['nginx']['pages_per_cpu_s_median']
                summary['full']['vs_nginx'] = round(ratio, 3)
                print('breaktimed full / nginx (the same handshake and page, no CONNECT): %.2f' % ratio)
        d = {k: m1.get(k, 0) - m0.get(k, 0) for k in m1 if k.startswith('breaktime_tls')}
        print('during the load: %s' % ', '.join('%s +%d' % (k, v) for k, v in sorted(d.items())))
        print('after it: breaktime_connections %s, %d fds open, RSS %d KiB (before %d KiB)'
              % (m1.get('breaktime_connections'), fds, rss1, rss0))
        if mint:
            print('leaf minting (%s): %s' % (mintb, mint))
        if cg:
            print('callgrind, instructions per page in breaktimed (user space): full %d, resumed %d (%.2f)'
                  % (cg['full'], cg['resume'], cg['resume'] / cg['full']))
        for n in notes:
            print(n)
        if cg_top:
            print('\ncallgrind, inclusive instructions per full page, named functions:\n' + '\n'.join(cg_top))
        if profile:
            print('\nperf record of breaktimed during one more full round:\n' + profile)
        print('\ncommand: %s' % ' '.join(['bench/tls_pages.py'] + sys.argv[1:]))
        if a.json:
            json.dump({'meta': {'breaktimed': bt, 'clients': a.clients, 'duration': a.duration,
                                'rounds': a.rounds, 'pinned': pin, 'ca': how,
                                'loadavg': open('/proc/loadavg').read().split()[:3]},
                       'rounds': runs, 'summary': summary, 'metrics_delta': d,
                       'after': {'connections': m1.get('breaktime_connections'), 'fds': fds,
                                 'rss_kib_before': rss0, 'rss_kib_after': rss1},
                       'mint': mint, 'callgrind_ir_per_page': cg, 'callgrind_top': cg_top,
                       'notes': notes, 'perf': profile}, open(a.json, 'w'), indent=1)
    finally:
        for p in (ng, bp):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
