#!/usr/bin/env python3
"""
bench/intercept.py: what an intercepted flow costs breaktimed against the
same flow through its explicit listener, in one run, on the intercept
topology (network namespaces: client, gateway with breaktimed and the
shipped TPROXY ruleset, origin with nginx; all created here and removed at
the end). Needs root.

Loads, each through the explicit listener and intercepted, alternately:
  keep-alive   wrk -t1 -c32 for DURATION s: 1 KiB GETs (explicit: absolute-form
               to the proxy; intercepted: origin-form to the origin's address)
  tunnels      TUNNELS TLS sessions one after another, each a handshake, one
               1 KiB GET and a close (explicit: CONNECT first)
Printed: breaktimed's CPU (user+system, /proc) per 1,000 requests or tunnels,
and the intercepted/explicit ratio (the goal: at most 1.10).

    sudo bench/intercept.py [--breaktimed build-bench/proxy/breaktimed]
                            [--duration 10] [--tunnels 1000] [--rounds 2]
"""
import argparse
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PID = os.getpid()
NS_C, NS_G, NS_O = 'bbc%d' % PID, 'bbg%d' % PID, 'bbo%d' % PID
CLIENT, GW, ORIGIN = '10.232.1.2', '10.232.1.1', '10.232.2.2'
PORT = 3129


def sh(*args, ns=None):
    cmd = (['ip', 'netns', 'exec', ns] if ns else []) + list(args)
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def cpu_s(pid):
    f = open('/proc/%d/stat' % pid).read().rsplit(')', 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')


def topology(tmp, bt):
    for ns in (NS_C, NS_G, NS_O):
        sh('ip', 'netns', 'add', ns)
        sh('ip', 'link', 'set', 'lo', 'up', ns=ns)
    sh('ip', 'link', 'add', 'c0', 'netns', NS_C, 'type', 'veth', 'peer', 'name', 'g0', 'netns', NS_G)
    sh('ip', 'link', 'add', 'g1', 'netns', NS_G, 'type', 'veth', 'peer', 'name', 'o0', 'netns', NS_O)
    for ns, dev, a in ((NS_C, 'c0', CLIENT), (NS_G, 'g0', GW), (NS_G, 'g1', '10.232.2.1'), (NS_O, 'o0', ORIGIN)):
        sh('ip', 'addr', 'add', a + '/24', 'dev', dev, ns=ns)
        sh('ip', 'link', 'set', dev, 'up', ns=ns)
    sh('ip', 'route', 'add', 'default', 'via', GW, ns=NS_C)
    sh('ip', 'route', 'add', 'default', 'via', '10.232.2.1', ns=NS_O)
    sh('sysctl', '-qw', 'net.ipv4.ip_forward=1', ns=NS_G)
    rules = open(os.path.join(ROOT, 'systemd', 'breaktime-intercept.nft')).read()
    rules = re.sub(r'(?m)^define client_ifaces = .*$', 'define client_ifaces = { "g0" }', rules)
    rules = re.sub(r'(?m)^define intercept_port = .*$', 'define intercept_port = %d' % PORT, rules)
    rules = re.sub(r'(?m)^define gateway_v4 = .*$', 'define gateway_v4 = { %s, 10.232.2.1 }' % GW, rules)
    open(os.path.join(tmp, 'rules.nft'), 'w').write(rules)
    sh('nft', '-f', os.path.join(tmp, 'rules.nft'), ns=NS_G)
    sh('ip', 'rule', 'add', 'fwmark', '0x1', 'lookup', '100', ns=NS_G)
    sh('ip', 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '100', ns=NS_G)
    # the origin: nginx, 1 KiB over HTTP and HTTPS
    crt, key = os.path.join(tmp, 'o.crt'), os.path.join(tmp, 'o.key')
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                    '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=bench.test'],
                   check=True, capture_output=True)
    open(os.path.join(tmp, '1k'), 'w').write('x' * 1024)
    open(os.path.join(tmp, 'nginx.conf'), 'w').write(
        'daemon off; worker_processes 1; error_log %s/nginx.err; pid %s/nginx.pid;\n'
        'events { worker_connections 4096; }\n'
        'http { access_log off; keepalive_requests 1000000; server { listen 80; listen 443 ssl;\n'
        ' ssl_certificate %s; ssl_certificate_key %s; root %s; } }\n' % (tmp, tmp, crt, key, tmp))
    ng = subprocess.Popen(['ip', 'netns', 'exec', NS_O, 'nginx', '-p', tmp, '-c', os.path.join(tmp, 'nginx.conf')])
    conf = os.path.join(tmp, 'bt.conf')
    open(conf, 'w').write(
        '[proxy]\nlisten = %s:3128\nintercept_listen = 0.0.0.0:%d\nworkers = 1\n'
        'allow_clients = 10.232.1.0/24\nconnect_ports = 443\ndns_servers = 127.0.0.1:9\n'
        'max_connections_per_client = 4096\n[store]\ndatabase = %s/store.db\n'
        '[catalog]\nplatforms = %s/config/platforms.list\n' % (GW, PORT, tmp, ROOT))
    log = open(os.path.join(tmp, 'bt.log'), 'w')
    bp = subprocess.Popen(['ip', 'netns', 'exec', NS_G, bt, '-c', conf], stdout=log, stderr=log)
    for _ in range(100):
        if 'ready' in open(os.path.join(tmp, 'bt.log')).read():
            break
        time.sleep(0.1)
    time.sleep(0.5)
    return ng, bp


WRK_LUA = 'wrk.path = "http://%s/1k"\nwrk.headers["Host"] = "%s"\n' % (ORIGIN, ORIGIN)


def keepalive(tmp, bt_pid, mode, duration):
    lua = os.path.join(tmp, 'explicit.lua')
    open(lua, 'w').write(WRK_LUA)
    args = ['wrk', '-t1', '-c32', '-d%ds' % duration]
    if mode == 'explicit':
        args += ['-s', lua, 'http://%s:3128/' % GW]
    else:
        args += ['http://%s/1k' % ORIGIN]
    c0 = cpu_s(bt_pid)
    out = sh(*args, ns=NS_C).stdout
    c1 = cpu_s(bt_pid)
    n = int(re.search(r'(\d+) requests in', out).group(1))
    bad = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if bad:
        sys.exit('%s: %s of %d responses were not 2xx' % (mode, bad.group(1), n))
    return n, c1 - c0


TUNNEL_CLIENT = r'''
import socket, ssl, sys
mode, n, gw, origin = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ok = 0
for i in range(n):
    if mode == 'explicit':
        s = socket.create_connection((gw, 3128))
        s.sendall(b'CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\n\r\n' % (origin.encode(), origin.encode()))
        buf = b''
        while b'\r\n\r\n' not in buf:
            buf += s.recv(4096)
    else:
        s = socket.create_connection((origin, 443))
    t = ctx.wrap_socket(s, server_hostname='bench.test')
    t.sendall(b'GET /1k HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n')
    got = b''
    while True:
        b = t.recv(65536)
        if not b:
            break
        got += b
    ok += got.startswith(b'HTTP/1.1 200')
    t.close()
print(ok)
'''


def tunnels(bt_pid, mode, n):
    c0 = cpu_s(bt_pid)
    out = sh('python3', '-c', TUNNEL_CLIENT, mode, str(n), GW, ORIGIN, ns=NS_C).stdout
    c1 = cpu_s(bt_pid)
    return int(out.strip()), c1 - c0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--breaktimed', default=os.path.join(ROOT, 'build-bench', 'proxy', 'breaktimed'))
    ap.add_argument('--duration', type=int, default=10)
    ap.add_argument('--tunnels', type=int, default=1000)
    ap.add_argument('--rounds', type=int, default=2)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit('bench/intercept.py needs root (network namespaces, nftables)')
    for tool in ('wrk', 'nginx', 'nft'):
        if not shutil.which(tool):
            sys.exit('%s is not installed' % tool)
    tmp = tempfile.mkdtemp(prefix='bt-bench-icpt-')
    os.chmod(tmp, 0o755)  # nginx's workers read the page as nobody
    procs = []
    try:
        procs = list(topology(tmp, os.path.abspath(a.breaktimed)))
        bt_pid = procs[1].pid
        res = {'keep-alive': {'explicit': [0, 0.0], 'intercept': [0, 0.0]},
               'tunnels': {'explicit': [0, 0.0], 'intercept': [0, 0.0]}}
        for r in range(a.rounds):
            for mode in (('explicit', 'intercept') if r % 2 == 0 else ('intercept', 'explicit')):
                n, cpu = keepalive(tmp, bt_pid, mode, a.duration)
                res['keep-alive'][mode][0] += n
                res['keep-alive'][mode][1] += cpu
                n, cpu = tunnels(bt_pid, mode, a.tunnels)
                res['tunnels'][mode][0] += n
                res['tunnels'][mode][1] += cpu
        out = {}
        for load, m in res.items():
            per = {mode: (cpu / n * 1000 if n else float('nan')) for mode, (n, cpu) in m.items()}
            out[load] = {'explicit_cpu_ms_per_1000': round(per['explicit'] * 1000, 1),
                         'intercept_cpu_ms_per_1000': round(per['intercept'] * 1000, 1),
                         'count': {mode: n for mode, (n, _) in m.items()},
                         'ratio': round(per['intercept'] / per['explicit'], 3)}
            print('%-10s explicit %7.1f ms CPU per 1000, intercepted %7.1f ms: ratio %.3f (%d / %d done)'
                  % (load, per['explicit'] * 1000, per['intercept'] * 1000, per['intercept'] / per['explicit'],
                     m['explicit'][0], m['intercept'][0]))
        print('BENCHJSON ' + json.dumps(out))
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        for ns in (NS_C, NS_G, NS_O):
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
