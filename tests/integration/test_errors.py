#!/usr/bin/env python3
"""Errors, timeouts, limits and the secure defaults: 502 for unresolvable,
refused and reset origins, 504 for a silent one, slowloris and idle clients
disconnected, max_connections and max_connections_per_client, allow_clients,
no proxying to the proxy itself or to loopback unless allowed."""

import socket
import threading
import time

from harness import (Raw, Response, Origin, check, curl, eq, free_port, http_get, payload, ref_ok, run, short,
                     wait_for, proc_cpu_s)


def status_of(port, data, timeout=8, src=None):
    c = Raw(port, timeout=timeout, src=src)
    c.send(data)
    t0 = time.monotonic()
    r = c.response()
    r.elapsed = time.monotonic() - t0
    c.close()
    return r


@ref_ok
def test_unresolvable_502_within_5s(t):
    t0 = time.monotonic()
    r = curl(t.p, 'http://no-such-host.test:%d/x' % t.origin.port, timeout=15)
    el = time.monotonic() - t0
    eq(r.code, 502, 'status for a name the DNS server answers NXDOMAIN (%r)' % r)
    check(el < 5, 'took %.1fs' % el)
    check(b'no-such-host.test' in r.body, 'the error page names the host: %s' % short(r.body))
    if t.p.kind == 'breaktimed':
        check('no-such-host.test' in t.dns.names(), 'our DNS server was not asked: %s' % t.dns.names()[-5:])
        t.p.wait_record(lambda x: x.get('status') == '502' and x.get('host') == 'no-such-host.test', what='502 record')


def test_dns_silent_502_within_5s(t):
    t0 = time.monotonic()
    r = curl(t.p, 'http://silent.test:%d/x' % t.origin.port, timeout=15)
    el = time.monotonic() - t0
    eq(r.code, 502, 'status when DNS never answers (%r)' % r)
    check(el < 5, 'took %.1fs (dns_timeout 1s)' % el)


def test_dns_server_down_502(t):
    dead = free_port()
    p = t.proxy({'dns_servers': '127.0.0.1:%d' % dead})
    t0 = time.monotonic()
    r = curl(p, 'http://nobody-answers.test:%d/x' % t.origin.port, timeout=15)
    eq(r.code, 502, 'status with no DNS server listening (%r)' % r)
    check(time.monotonic() - t0 < 5, 'took %.1fs' % (time.monotonic() - t0))
    # hosts_file names still work without DNS
    r = curl(p, 'http://hosts-only.test:%d/size/5' % t.origin.port)
    eq((r.code, r.body), (200, payload(5)), 'hosts_file name without DNS (%r)' % r)


@ref_ok
def test_refused_502(t):
    port = free_port()
    r = status_of(t.p.port, ('GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n' % (port, port)).encode())
    eq(r.status, 502, 'status for a refused connection')
    check(len(r.body) > 0, 'an error page')


@ref_ok
def test_reset_502(t):
    r = status_of(t.p.port, http_get(t.origin, '/reset'))
    eq(r.status, 502, 'status when the origin resets before answering')


@ref_ok
def test_truncated_body_aborts_client(t):
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/trunc/100000'))
    try:
        r = c.response()
        raise AssertionError('a truncated origin body was relayed as complete: %r' % r)
    except (EOFError, ConnectionError):
        pass
    c.close()
    r = curl(t.p, t.origin.url('/trunc/100000'))
    check(r.rc in (18, 56), 'curl sees a partial transfer (%r)' % r)


def test_upstream_timeout_504(t):
    p = t.proxy({'upstream_timeout': '1s'})
    t0 = time.monotonic()
    r = status_of(p.port, http_get(t.origin, '/hang'))
    el = time.monotonic() - t0
    eq(r.status, 504, 'status for an origin that never answers')
    check(0.8 <= el <= 3.5, '504 after %.2fs with upstream_timeout 1s' % el)
    p.wait_record(lambda x: x.get('status') == '504', what='504 record')
    # a slow but steady origin is not cut off by upstream_timeout once its head came
    r = curl(p, t.origin.url('/slow/5000?parts=5&delay=0.4'))
    eq((r.code, r.body), (200, payload(5000)), 'a response whose body takes 1.6 s (%r)' % r)


@ref_ok
def test_upstream_timeout_default_config(t):
    r = status_of(t.p.port, http_get(t.origin, '/hang'), timeout=10)
    check(r.status == 504, 'status %s for a silent origin' % r.status)


def test_connect_timeout(t):
    # a listener whose accept queue is full drops SYNs: connect() hangs
    ls = socket.socket()
    ls.bind(('127.0.0.1', 0))
    ls.listen(0)
    port = ls.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(('127.0.0.1', port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.2)
    try:
        p = t.proxy({'connect_timeout': '1s', 'upstream_timeout': '10s'})
        t0 = time.monotonic()
        r = status_of(p.port, ('GET http://127.0.0.1:%d/ HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n' % (port, port)).encode(), timeout=12)
        el = time.monotonic() - t0
        check(r.status in (502, 504), 'status %s for an origin that never completes the handshake' % r.status)
        check(el < 3.5, 'answered after %.1fs with connect_timeout 1s' % el)
    finally:
        for s in fillers:
            s.close()
        ls.close()


def test_slowloris_header_timeout(t):
    p = t.proxy({'header_timeout': '1s', 'idle_timeout': '10s'})
    c = Raw(p.port)
    head = http_get(t.origin, '/echo?slow=1', extra='X-A: ' + 'a' * 40 + '\r\n')[:-2]
    t0 = time.monotonic()
    closed = False
    for i in range(len(head)):
        try:
            c.send(head[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if c.closed_within(0.15):
            closed = True
            break
        if time.monotonic() - t0 > 5:
            break
    el = time.monotonic() - t0
    check(closed, 'a client trickling its head was not disconnected within %.1fs' % el)
    check(el < 3, 'disconnected after %.1fs with header_timeout 1s' % el)
    c.close()
    eq([x for x in t.origin.paths() if 'slow=1' in x], [], 'partial request relayed')


def test_slowloris_on_keepalive_connection(t):
    # header_timeout applies to every head, not only the first on a connection
    p = t.proxy({'header_timeout': '1s', 'idle_timeout': '10s'})
    c = Raw(p.port)
    c.send(http_get(t.origin, '/size/4'))
    eq(c.response().body, payload(4), 'first response')
    head = http_get(t.origin, '/echo?slow2=1', extra='X-A: ' + 'a' * 40 + '\r\n')[:-2]
    t0 = time.monotonic()
    closed = False
    for i in range(len(head)):
        try:
            c.send(head[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if c.closed_within(0.15):
            closed = True
            break
        if time.monotonic() - t0 > 6:
            break
    el = time.monotonic() - t0
    check(closed, 'a second head trickled on a keep-alive connection was not cut within %.1fs' % el)
    check(el < 3, 'cut after %.1fs with header_timeout 1s' % el)
    c.close()


def test_stalled_request_body_times_out(t):
    # a client that stops half-way through its body is cut off by one of the timers, not held forever
    p = t.proxy({'header_timeout': '1s', 'idle_timeout': '1s', 'upstream_timeout': '3s'})
    c = Raw(p.port)
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n' % (t.origin.url('/body'), t.origin.authority)).encode() + b'x' * 10)
    t0 = time.monotonic()
    check(c.closed_within(7), 'a client that stops half-way through its body is never disconnected')
    check(time.monotonic() - t0 < 6, 'disconnected after %.1fs' % (time.monotonic() - t0))
    c.close()


def test_slow_upload_longer_than_upstream_timeout(t):
    # upstream_timeout waits for the origin's answer, which cannot come before the body is complete:
    # an upload that keeps moving for longer than upstream_timeout must not end in 504
    p = t.proxy({'upstream_timeout': '1500ms', 'idle_timeout': '5s'})
    n, parts = 4 * 1024 * 1024, 16
    c = Raw(p.port, timeout=15)
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n' % (t.origin.url('/body'), t.origin.authority, n)).encode())
    data = payload(n)
    t0 = time.monotonic()
    try:
        for i in range(parts):
            c.send(data[i * n // parts:(i + 1) * n // parts])
            time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError) as e:
        try:
            got = c.response()
            got = '%d %s' % (got.status, short(got.body, 80))
        except Exception:
            got = 'no response'
        raise AssertionError('upload cut off after %.1fs (%s): %s' % (time.monotonic() - t0, e, got))
    r = c.response()
    eq(r.status, 200, 'a 3.2 s upload with upstream_timeout 1.5s (body %s)' % short(r.body, 100))
    eq(r.body, data, 'echoed body')
    c.close()


def test_silent_client_disconnected(t):
    p = t.proxy({'header_timeout': '1s', 'idle_timeout': '2s'})
    c = Raw(p.port)
    t0 = time.monotonic()
    check(c.closed_within(4), 'a client that sends nothing stays connected')
    check(time.monotonic() - t0 < 3.5, 'closed after %.1fs' % (time.monotonic() - t0))
    c.close()


def test_idle_keepalive_timeout(t):
    p = t.proxy({'idle_timeout': '1500ms', 'header_timeout': '5s'})
    c = Raw(p.port)
    c.send(http_get(t.origin, '/size/10'))
    eq(c.response().body, payload(10), 'first response')
    check(not c.closed_within(0.8), 'keep-alive connection closed long before idle_timeout')
    check(c.closed_within(3), 'idle keep-alive connection still open 3.8 s after its response (idle_timeout 1.5s)')
    c.close()
    # activity keeps it open
    c = Raw(p.port)
    for i in range(4):
        c.send(http_get(t.origin, '/size/3'))
        eq(c.response().body, payload(3), 'response %d' % i)
        time.sleep(0.8)
    c.close()


def test_max_connections_pauses_accept(t):
    p = t.proxy({'max_connections': '4'})
    held = []
    for i in range(4):
        c = Raw(p.port)
        c.send(http_get(t.origin, '/size/1'))
        eq(c.response().body, payload(1), 'connection %d served' % i)
        held.append(c)
    cpu0 = p.cpu_s()
    # the kernel completes these handshakes; the proxy must not take them yet, on any worker
    extra = [Raw(p.port, timeout=6) for _ in range(3)]
    for i, x in enumerate(extra):
        x.send(http_get(t.origin, '/size/%d' % (2 + i)))
    time.sleep(1.2)
    for i, x in enumerate(extra):
        check(not x.closed_within(0.01), 'connection %d over max_connections 4 was closed instead of waiting' % (5 + i))
        check(not x.rd.buf, 'connection %d was served over max_connections 4: %s' % (5 + i, short(bytes(x.rd.buf))))
    cpu = p.cpu_s() - cpu0
    check(cpu < 0.3, 'proxy used %.2f CPU s in 1.2 s while at max_connections (spinning on accept?)' % cpu)
    for c in held[:3]:
        c.close()
    for i, x in enumerate(extra):
        x.sock.settimeout(4)
        eq(x.response().body, payload(2 + i), 'waiting connection %d served once others closed' % (5 + i))
    for c in held[3:] + extra:
        c.close()


def test_max_connections_per_client(t):
    p = t.proxy({'max_connections_per_client': '2'})
    held = []
    for i in range(2):
        c = Raw(p.port)
        c.send(http_get(t.origin, '/size/1'))
        eq(c.response().body, payload(1), 'connection %d served' % i)
        held.append(c)
    third = Raw(p.port)
    third.send(http_get(t.origin, '/size/2'))
    third.sock.settimeout(3)
    try:
        r = third.response()
        check(r.status != 200, 'a third connection from 127.0.0.1 was served with max_connections_per_client 2')
    except (EOFError, ConnectionError):
        pass
    except socket.timeout:
        raise AssertionError('the third connection got neither an error nor a close within 3 s')
    third.close()
    other = Raw(p.port, src='127.0.0.2')
    other.send(http_get(t.origin, '/size/3'))
    eq(other.response().body, payload(3), 'another client address is still served')
    other.close()
    held[0].close()
    time.sleep(0.3)
    again = Raw(p.port)
    again.send(http_get(t.origin, '/size/4'))
    eq(again.response().body, payload(4), 'served again once one of the first two closed')
    again.close()
    held[1].close()


def test_allow_clients_denied_403(t):
    p = t.proxy({'allow_clients': '10.0.0.0/8'})
    before = len(t.origin.paths())
    r = curl(p, t.origin.url('/size/10'))
    eq(r.code, 403, 'status for a client outside allow_clients (%r)' % r)
    c, rr = None, None
    c = Raw(p.port)
    c.send(b'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n')
    rr = Response(c.rd.read_until(b'\r\n\r\n'))
    eq(rr.status, 403, 'CONNECT from a client outside allow_clients')
    c.close()
    time.sleep(0.1)
    eq(t.origin.paths()[before:], [], 'requests relayed for a denied client')
    wait_for(lambda: any('127.0.0.1' in ln and ('403' in ln or 'denied' in ln.lower() or 'allow' in ln.lower())
                         for ln in p.log_lines()), 3, what='the denial to be logged')


def test_allow_clients_by_address(t):
    p = t.proxy({'allow_clients': '127.0.0.2/32, ::1'})
    c = Raw(p.port, src='127.0.0.2')
    c.send(http_get(t.origin, '/size/6'))
    eq(c.response().body, payload(6), 'an allowed client address')
    c.close()
    r = status_of(p.port, http_get(t.origin, '/size/6'), src='127.0.0.1')
    eq(r.status, 403, 'a client address outside allow_clients')


def test_no_proxying_to_own_listener(t):
    port = free_port()
    port6 = free_port('::1')
    p = t.proxy({'listen': '127.0.0.1:%d, [::1]:%d' % (port, port6), 'connect_ports': '%d, 443' % port})
    eq(p.port, port, 'listening port')
    for url, want in (('http://127.0.0.1:%d/' % port, (403,)), ('http://hosts-only.test:%d/x' % port, (403,)),
                      ('http://[::1]:%d/' % port6, (403,)), ('http://v6.test:%d/' % port6, (403,)),
                      ('http://[::ffff:127.0.0.1]:%d/' % port, (403, 400))):
        r = status_of(port, ('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % url).encode())
        check(r.status in want, 'request to the proxy itself via %s: status %s, want %s' % (url, r.status, want))
    c = Raw(port)
    c.send(('CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n' % (port, port)).encode())
    r = Response(c.rd.read_until(b'\r\n\r\n'))
    eq(r.status, 403, 'CONNECT to the proxy itself')
    c.close()
    time.sleep(0.2)
    check(p.alive(), 'proxy died')
    reqs = [r for r in p.records() if r.get('kind') == 'request']
    check(len(reqs) <= 5, 'a request looped through the proxy: %d request records for 5 requests' % len(reqs))


def test_loopback_upstream_denied_by_default(t):
    o6 = Origin('::1')
    t.defer(o6.stop)
    echo = t.tcp_origin('echo')
    p = t.proxy({'allow_loopback_upstream': None, 'connect_ports': str(echo.port)})
    before = len(t.origin.paths())
    op = t.origin.port
    cases = [
        ('http://127.0.0.1:%d/echo?lb=1' % op, (403,)),
        ('http://127.9.9.9:%d/echo?lb=2' % op, (403,)),
        ('http://hosts-only.test:%d/echo?lb=3' % op, (403,)),
        ('http://dns-only.test:%d/echo?lb=4' % op, (403,)),
        ('http://[::ffff:127.0.0.1]:%d/echo?lb=5' % op, (403, 400)),
        ('http://0.0.0.0:%d/echo?lb=6' % op, (403, 400)),
        ('http://2130706433:%d/echo?lb=7' % op, (403, 400, 502)),
        ('http://[::1]:%d/echo?lb=8' % o6.port, (403,)),
    ]
    for url, want in cases:
        r = status_of(p.port, ('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % url).encode())
        check(r.status in want, '%s with allow_loopback_upstream off: status %s, want %s' % (url, r.status, want))
    c = Raw(p.port)
    c.send(('CONNECT 127.0.0.1:%d HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n' % (echo.port, echo.port)).encode())
    eq(Response(c.rd.read_until(b'\r\n\r\n')).status, 403, 'CONNECT to loopback')
    c.close()
    time.sleep(0.2)
    eq(t.origin.paths()[before:], [], 'requests that reached the loopback origin')
    eq(o6.paths(), [], 'requests that reached the ::1 origin')
    eq(echo.sessions, [], 'tunnels that reached the loopback echo server')


def test_error_page_is_well_formed(t):
    c = Raw(t.p.port)
    c.send(('GET http://no-such-host.test:%d/a HTTP/1.1\r\nHost: no-such-host.test\r\n\r\n' % t.origin.port).encode())
    r = c.response()
    eq(r.status, 502, 'status')
    check(r.framing == 'length', 'error page framing %s' % r.framing)
    check((r.get('content-type') or '').startswith(('text/html', 'text/plain')), 'content type %r' % r.get('content-type'))
    check(b'no-such-host.test' in r.body, 'the page names the host')
    if 'close' in r.tokens('connection'):
        check(c.closed_within(2), 'connection left open after Connection: close')
    else:
        # the connection survives a 502 for the next request
        c.send(http_get(t.origin, '/size/8'))
        eq(c.response().body, payload(8), 'request after a 502 on the same connection')
    c.close()


def test_accept_pauses_on_emfile(t):
    p = t.proxy({'max_connections': '10000'}, nofile=64)
    held = []
    try:
        for _ in range(90):
            s = socket.socket()
            s.settimeout(2)
            try:
                s.connect(('127.0.0.1', p.port))
            except OSError:
                s.close()
                break
            held.append(s)
        time.sleep(0.3)
        cpu0 = p.cpu_s()
        time.sleep(1.0)
        cpu = p.cpu_s() - cpu0
        check(cpu < 0.3, 'proxy used %.2f CPU s in 1 s out of file descriptors (spinning on EMFILE?)' % cpu)
        check(p.alive(), 'proxy died out of file descriptors')
    finally:
        for s in held:
            s.close()
    time.sleep(1.5)
    r = curl(p, t.origin.url('/size/10'), timeout=10)
    eq((r.code, r.body), (200, payload(10)), 'served again after the descriptors came back (%r)' % r)


if __name__ == '__main__':
    run(globals())
