#!/usr/bin/env python3
"""The daemon as an administrator sees it: stderr lines with syslog
prefixes, one -v record per request, tunnel and refusal with the right
fields, one -d line per closed connection with its reason, quiet without
-v/-d, N workers each with its own SO_REUSEPORT listener, and an event loop
that a slow DNS answer or a slow origin does not block."""

import re
import threading
import time

from harness import (Raw, Origin, check, curl, eq, http_get, payload, run, wait_for, proc_status)


def test_log_lines_have_syslog_prefix(t):
    p = t.proxy()
    curl(p, t.origin.url('/size/10'))
    curl(p, 'http://no-such-host.test/')
    p.stop()
    lines = [ln for ln in p.log_lines() if ln.strip()]
    check(lines, 'no log lines')
    # sanitizer reports are not the daemon's own lines (the harness reports them apart)
    san = re.compile(r'runtime error:|^==\d+==|^\s+#\d+ |Sanitizer|^SUMMARY:')
    bad = [ln for ln in lines if not re.match(r'^<[0-7]>\S', ln) and not san.search(ln)]
    eq(bad, [], 'stderr lines without a <N> syslog prefix')
    check(any(re.match(r'^<6>listening on 127\.0\.0\.1:\d+$', ln) for ln in lines), 'listening line: %s' % lines[:3])


def test_one_record_per_request(t):
    o = Origin()
    t.defer(o.stop)
    p = t.proxy()
    c = Raw(p.port)
    c.send(http_get(o, '/size/100'))
    c.response()
    c.send(http_get(o, '/size/5', method='HEAD'))
    c.response('HEAD')
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 3000\r\n\r\n' % (o.url('/body'), o.authority)).encode() + b'p' * 3000)
    c.response()
    c.send(http_get(o, '/status/204'))
    c.response()
    c.close()
    want = [('GET', '200'), ('HEAD', '200'), ('POST', '200'), ('GET', '204')]

    def mine():
        return [r for r in p.records() if r.get('port') == str(o.port)]
    wait_for(lambda: len(mine()) >= 4, 3, what='4 records')
    time.sleep(0.2)
    recs = mine()
    eq([(r['method'], r['status']) for r in recs], want, 'records (method, status) in order')
    check(all(r['kind'] == 'request' for r in recs), 'kinds %s' % [r['kind'] for r in recs])
    post = recs[2]
    check(int(post['up']) >= 3000, 'POST record up=%s counts the 3000-byte body' % post['up'])
    eq(int(recs[1]['down']) < int(recs[0]['down']), True, 'HEAD record has fewer bytes down than the GET with a body')


def test_record_duration_and_close_reason(t):
    p = t.proxy()
    r = curl(p, t.origin.url('/slow/1000?parts=4&delay=0.3'))
    eq(r.code, 200, 'status')
    rec = p.wait_record(lambda x: x.get('status') == '200', what='record')
    check(800 <= int(rec['ms']) < 5000, 'record ms=%s for a ~0.9 s response' % rec['ms'])
    check(rec.get('close') not in (None, '', '-'), 'record close reason %r' % rec.get('close'))


def test_record_ipv6_client(t):
    p = t.proxy({'listen': '[::1]:0'})
    check(p.host == '::1', 'listener %s' % p.listeners)
    r = curl(p, t.origin.url('/size/10'), proxy_url='http://[::1]:%d' % p.port)
    eq(r.code, 200, 'status (%r)' % r)
    rec = p.wait_record(lambda x: x.get('kind') == 'request', what='record')
    eq(rec['client'], '::1', 'client address of an IPv6 client')


def test_refusals_are_recorded(t):
    p = t.proxy({'connect_ports': '443'})
    c = Raw(p.port)
    c.send(b'CONNECT 127.0.0.1:8443 HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n\r\n')
    c.response('CONNECT')
    c.close()
    rec = p.wait_record(lambda x: x.get('status') == '403', what='a record of the refused CONNECT')
    eq((rec['method'], rec['host'], rec['port']), ('CONNECT', '127.0.0.1', '8443'), 'refused CONNECT record')


def test_debug_line_per_closed_connection(t):
    p = t.proxy({'header_timeout': '1s'})
    before = len([ln for ln in p.log_lines() if ln.startswith('<7>')])
    for i in range(3):
        c = Raw(p.port)
        c.send(http_get(t.origin, '/size/10'))
        c.response()
        c.close()
    slow = Raw(p.port)
    slow.send(b'GET http://127.0.0.1/ HTTP/1.1\r\n')
    check(slow.closed_within(4), 'slow client not closed')
    slow.close()
    time.sleep(0.3)
    lines = [ln for ln in p.log_lines() if ln.startswith('<7>')][before:]
    closes = [ln for ln in lines if 'reason=' in ln]
    eq(len(closes), 4, 'debug close lines for 4 connections:\n%s' % '\n'.join(lines))
    check(any('timeout' in ln for ln in closes[3:]), 'the header timeout close names its reason: %s' % closes[3:])


def test_quiet_without_v_and_d(t):
    p = t.proxy(args=())
    r = curl(p, t.origin.url('/size/10'))
    eq(r.code, 200, 'status')
    time.sleep(0.2)
    text = p.log()
    check('record ' not in text, 'records printed without -v')
    check('<7>' not in text, 'debug lines without -d')
    check(re.search(r'^<6>ready', text, re.M), 'ready line')


def test_workers_each_have_a_listener(t):
    p = t.proxy({'workers': '3'})
    threads = proc_status(p.pid, 'Threads')
    check(threads >= 3, 'Threads: %d for workers = 3' % threads)
    want = ':%04X' % p.port
    n = 0
    for path in ('/proc/net/tcp', '/proc/net/tcp6'):
        with open(path) as f:
            for ln in f:
                parts = ln.split()
                if len(parts) > 3 and parts[1].endswith(want) and parts[3] == '0A':
                    n += 1
    eq(n, 3, 'listening sockets on the port (one SO_REUSEPORT listener per worker)')
    # and every worker serves: 30 fresh connections all answered
    for i in range(30):
        r = curl(p, t.origin.url('/size/3'))
        eq(r.code, 200, 'request %d' % i)


def test_user_drops_privileges(t):
    import os
    from harness import TestSkip
    if os.geteuid() != 0:
        raise TestSkip('needs root to drop privileges')
    p = t.proxy({'user': 'nobody'}, start=False)
    os.chmod(t.tmp, 0o755)
    os.chmod(p.dir, 0o777)
    p.start()
    uids = set()
    for task in os.listdir('/proc/%d/task' % p.pid):
        with open('/proc/%d/task/%s/status' % (p.pid, task)) as f:
            for ln in f:
                if ln.startswith(('Uid:', 'Gid:')):
                    uids.update(int(x) for x in ln.split()[1:])
    check(0 not in uids, 'a thread still has uid/gid 0 with user = nobody: %s' % sorted(uids))
    r = curl(p, t.origin.url('/size/10'))
    eq((r.code, r.body), (200, payload(10)), 'serving after dropping privileges (%r)' % r)


def test_slow_dns_does_not_block_others(t):
    p = t.proxy({'workers': '1', 'dns_timeout': '3s'})
    res = {}

    def slow():
        res['slow'] = curl(p, 'http://silent.test:%d/' % t.origin.port, timeout=15)
    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    for i in range(5):
        r = curl(p, t.origin.url('/size/10'))
        eq(r.code, 200, 'request %d while a lookup hangs' % i)
    el = time.monotonic() - t0
    check(el < 1.5, '5 requests took %.1fs while one DNS lookup hung (one worker)' % el)
    th.join(20)
    eq(res['slow'].code, 502, 'the hanging lookup ends in 502')


def test_slow_origin_does_not_block_others(t):
    p = t.proxy({'workers': '1'})
    res = {}

    def slow():
        res['slow'] = curl(p, t.origin.url('/slow/100?parts=1&first=2'), timeout=15)
    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    for i in range(5):
        r = curl(p, t.origin.url('/size/10'))
        eq(r.code, 200, 'request %d while an origin is slow' % i)
    check(time.monotonic() - t0 < 1.5, 'requests blocked by a slow origin (one worker)')
    th.join(20)
    eq((res['slow'].code, res['slow'].body), (200, payload(100)), 'the slow response')


if __name__ == '__main__':
    run(globals())
