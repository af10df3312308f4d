#!/usr/bin/env python3
"""CONNECT tunnels: allowed and denied ports, relay both ways, half-close,
the SNI of the ClientHello (whole, split across reads, split across TLS
records) recorded in the -v record, server-first protocols after the bounded
SNI wait, large transfers with back-pressure both ways, errors."""

import socket
import ssl
import subprocess
import threading
import time

from harness import (Raw, Response, TestFailure, check, check_payload, clean_env, curl, eq, payload,
                     payload_view, ref_ok, run, short, wait_for)


def connect_raw(port, authority, extra=b'', version='HTTP/1.1', timeout=5, src=None):
    c = Raw(port, timeout=timeout, src=src)
    c.send(('CONNECT %s %s\r\nHost: %s\r\n\r\n' % (authority, version, authority)).encode() + extra)
    raw = c.rd.read_until(b'\r\n\r\n')
    return c, Response(raw)


def tunnel(t, port, authority, **kw):
    c, r = connect_raw(port, authority, **kw)
    eq(r.status, 200, 'CONNECT %s status (%s)' % (authority, short(r.raw)))
    return c


def tls_client_hello(server_name):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out, out.read()


def finish_handshake(c, obj, inc, out, timeout=5):
    """Drive a MemoryBIO handshake over the raw tunnel socket until done."""
    end = time.monotonic() + timeout
    c.sock.settimeout(timeout)
    while True:
        try:
            obj.do_handshake()
            pending = out.read()
            if pending:
                c.send(pending)
            return obj
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                c.send(pending)
            if time.monotonic() > end:
                raise TestFailure('TLS handshake through the tunnel did not finish')
            d = c.read_some(timeout)
            if not d:
                raise TestFailure('tunnel closed during the TLS handshake')
            inc.write(d)


def split_records(hello, at):
    """Re-frame one TLS handshake record as two records split at payload offset `at`."""
    check(hello[0] == 0x16, 'not a handshake record')
    ln = int.from_bytes(hello[3:5], 'big')
    body = hello[5:5 + ln]
    rest = hello[5 + ln:]

    def rec(b):
        return hello[:3] + len(b).to_bytes(2, 'big') + b
    return rec(body[:at]) + rec(body[at:]) + rest


@ref_ok
def test_curl_connect_tls(t):
    tls = t.tls_origin()
    p = t.proxy({'connect_ports': str(tls.port)})
    r = curl(p, '-p', '-k', 'https://tls.test:%d/' % tls.port)
    eq((r.rc, r.code), (0, 200), 'curl through the tunnel (%r)' % r)
    eq(r.connect_code, 200, 'CONNECT status')
    check(b's_server' in r.body, 's_server page: %s' % short(r.body))
    if p.kind == 'breaktimed':
        rec = p.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')
        eq((rec['host'], rec['port'], rec['sni'], rec['status']), ('tls.test', str(tls.port), 'tls.test', '200'),
           'tunnel record host/port/sni/status')
        check(int(rec['up']) > 200 and int(rec['down']) > 500, 'tunnel byte counts up=%s down=%s' % (rec['up'], rec['down']))


@ref_ok
def test_s_client_sni_recorded(t):
    tls = t.tls_origin()
    p = t.proxy({'connect_ports': str(tls.port)})
    cmd = ['openssl', 's_client', '-proxy', '127.0.0.1:%d' % p.port, '-connect', 'tls.test:%d' % tls.port,
           '-servername', 'social.test', '-ign_eof', '-quiet']
    out = subprocess.run(cmd, input=b'GET / HTTP/1.0\r\n\r\n', capture_output=True, timeout=20, env=clean_env())
    check(b'HTTP/1.0 200' in out.stdout, 's_client through the proxy: %s %s' % (short(out.stdout), short(out.stderr)))
    if p.kind == 'breaktimed':
        rec = p.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')
        eq((rec['host'], rec['sni']), ('tls.test', 'social.test'), 'CONNECT host and SNI in the record')


@ref_ok
def test_curl_proxy10_connect(t):
    tls = t.tls_origin()
    p = t.proxy({'connect_ports': str(tls.port)})
    r = curl(p, '-p', '-k', 'https://127.0.0.1:%d/' % tls.port, proxy_url='http://127.0.0.1:%d' % p.port)
    eq(r.code, 200, 'CONNECT HTTP/1.1 (%r)' % r)
    import subprocess as sp
    q = sp.run(['curl', '-q', '-sS', '-k', '-p', '--proxy1.0', '127.0.0.1:%d' % p.port, '-o', '/dev/null', '-w', '%{http_code}',
                'https://127.0.0.1:%d/' % tls.port], capture_output=True, timeout=20, env=clean_env())
    eq(q.stdout, b'200', 'CONNECT HTTP/1.0 via --proxy1.0 (%s)' % short(q.stderr))


@ref_ok
def test_connect_port_denied_403(t):
    echo = t.tcp_origin('echo')
    other = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(other.port)})
    c, r = connect_raw(p.port, '127.0.0.1:%d' % echo.port)
    eq(r.status, 403, 'CONNECT to a port not in connect_ports')
    c.close()
    r = curl(p, '-p', 'http://127.0.0.1:%d/' % echo.port)
    eq(r.connect_code, 403, 'curl -p CONNECT status (%r)' % r)
    time.sleep(0.2)
    eq(echo.sessions, [], 'connections that reached the denied port')
    if p.kind == 'breaktimed':
        p.wait_record(lambda x: x.get('status') == '403' and x.get('port') == str(echo.port), what='record of the denied CONNECT')


def test_connect_default_port_443_only(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': None})
    c, r = connect_raw(p.port, '127.0.0.1:%d' % echo.port)
    eq(r.status, 403, 'CONNECT to a non-443 port with the default connect_ports')
    c.close()
    c, r = connect_raw(p.port, '127.0.0.1:443')
    # 502 where nothing listens on 443; another program on this machine may listen there (200)
    check(r.status in (200, 502), 'CONNECT to 127.0.0.1:443 with the default connect_ports: %s' % r.status)
    c.close()


@ref_ok
def test_connect_relay_both_ways(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(echo.port)})
    c = tunnel(t, p.port, '127.0.0.1:%d' % echo.port)
    t0 = time.monotonic()
    c.send(b'ping\n')
    eq(c.read_exact(5), b'ping\n', 'first echo')
    el = time.monotonic() - t0
    check(el < 0.9, 'non-TLS first bytes waited %.2fs (the SNI peek must not hold data that is not a ClientHello)' % el)
    blob = payload(2 << 20, 5)
    th = threading.Thread(target=lambda: c.send(blob))
    th.start()
    got = c.read_exact(len(blob))
    th.join()
    eq(check_payload(got, 5), -1, 'first corrupted echoed byte')
    c.shutdown_write()
    eq(c.read_all(), b'BYE %d\n' % (5 + len(blob)), 'origin saw every byte and the FIN')
    c.close()
    if p.kind == 'breaktimed':
        rec = p.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')
        check(int(rec['up']) >= len(blob) and int(rec['down']) >= len(blob), 'byte counts up=%s down=%s' % (rec['up'], rec['down']))
        eq(rec['sni'], '-', 'no SNI for a non-TLS tunnel')


@ref_ok
def test_connect_200_has_no_framing_headers(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(echo.port)})
    c, r = connect_raw(p.port, '127.0.0.1:%d' % echo.port)
    eq(r.status, 200, 'status')
    check(not r.has('content-length') and not r.has('transfer-encoding'),
          'a 2xx answer to CONNECT carries framing headers (RFC 9110 9.3.6): %s' % r.headers)
    c.close()


@ref_ok
def test_connect_data_with_request(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(echo.port)})
    c, r = connect_raw(p.port, '127.0.0.1:%d' % echo.port, extra=b'early-bytes')
    eq(r.status, 200, 'status')
    eq(c.read_exact(11), b'early-bytes', 'bytes sent right behind the CONNECT head were relayed')
    c.close()


@ref_ok
def test_connect_half_close_from_client(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(echo.port)})
    c = tunnel(t, p.port, '127.0.0.1:%d' % echo.port)
    c.send(b'x' * 1000)
    c.shutdown_write()
    data = c.read_all(5)
    eq(data, b'x' * 1000 + b'BYE 1000\n', 'echo and the reply sent after our FIN')
    c.close()


@ref_ok
def test_connect_half_close_from_origin(t):
    hc = t.tcp_origin('halfclose')
    p = t.proxy({'connect_ports': str(hc.port)})
    c = tunnel(t, p.port, '127.0.0.1:%d' % hc.port)
    c.send(b'before')
    c.sock.settimeout(5)
    got = c.rd.read_until(b'\n')
    eq(got, b'hello, then FIN\n', 'origin greeting')
    check(c.closed_within(3), 'origin FIN not passed on')
    # our direction is still open: bytes sent now still reach the origin
    c.send(b'-after-fin')
    c.shutdown_write()
    wait_for(lambda: hc.sessions and hc.sessions[0]['eof'], 5, what='origin to see our FIN')
    eq(hc.sessions[0]['head'], b'before-after-fin', 'bytes the origin got after it half-closed')
    c.close()


@ref_ok
def test_connect_server_speaks_first(t):
    b = t.tcp_origin('banner')
    p = t.proxy({'connect_ports': str(b.port)})
    c = tunnel(t, p.port, '127.0.0.1:%d' % b.port)
    t0 = time.monotonic()
    c.sock.settimeout(5)
    line = c.rd.read_until(b'\r\n')
    eq(line, b'HELLO from banner\r\n', 'banner of a server-first protocol')
    check(time.monotonic() - t0 < 3, 'banner took %.1fs (sni_timeout is 1s)' % (time.monotonic() - t0))
    c.send(b'abc')
    eq(c.read_exact(3), b'abc', 'echo after the banner')
    c.close()


def test_sni_split_across_reads(t):
    tls = t.tls_origin()
    p = t.proxy({'connect_ports': str(tls.port)})
    c = tunnel(t, p.port, '127.0.0.1:%d' % tls.port)
    obj, inc, out, hello = tls_client_hello('split.test')
    for i in range(0, len(hello), 60):
        c.send(hello[i:i + 60])
        time.sleep(0.03)
    finish_handshake(c, obj, inc, out)
    c.close()
    rec = p.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')
    eq((rec['host'], rec['sni']), ('127.0.0.1', 'split.test'), 'SNI from a ClientHello sent in 60-byte pieces')


def test_sni_split_across_tls_records(t):
    tls = t.tls_origin()
    p = t.proxy({'connect_ports': str(tls.port)})
    c = tunnel(t, p.port, '127.0.0.1:%d' % tls.port)
    obj, inc, out, hello = tls_client_hello('records.test')
    framed = split_records(hello, 50)
    c.send(framed[:30])
    time.sleep(0.1)
    c.send(framed[30:])
    finish_handshake(c, obj, inc, out)
    c.close()
    rec = p.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')
    eq(rec['sni'], 'records.test', 'SNI from a ClientHello split across two TLS records')


def test_sni_peek_is_bounded(t):
    # a client that sends the start of a TLS record and stops: after sni_timeout the
    # tunnel is relayed anyway (a server-first origin's banner comes through)
    b = t.tcp_origin('banner')
    p = t.proxy({'connect_ports': str(b.port), 'sni_timeout': '500ms'})
    c = tunnel(t, p.port, '127.0.0.1:%d' % b.port)
    t0 = time.monotonic()
    c.send(b'\x16\x03\x01\x02\x00\x01')
    c.sock.settimeout(4)
    line = c.rd.read_until(b'\r\n')
    eq(line, b'HELLO from banner\r\n', 'banner after an incomplete ClientHello')
    el = time.monotonic() - t0
    check(el < 2.5, 'relay began %.1fs after an incomplete ClientHello (sni_timeout 500ms)' % el)
    eq(c.read_exact(6), b'\x16\x03\x01\x02\x00\x01', 'the peeked bytes reached the origin (echoed back)')
    c.close()
    # and a ClientHello completed after the timeout still makes a working TLS session
    tls = t.tls_origin()
    p2 = t.proxy({'connect_ports': str(tls.port), 'sni_timeout': '500ms'})
    c = tunnel(t, p2.port, '127.0.0.1:%d' % tls.port)
    obj, inc, out, hello = tls_client_hello('slow.test')
    c.send(hello[:20])
    time.sleep(1.2)
    c.send(hello[20:])
    finish_handshake(c, obj, inc, out)
    c.close()
    p2.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')


def test_large_download_back_pressure(t):
    n = 64 << 20
    src = t.tcp_origin('source:%d' % n)
    p = t.proxy({'connect_ports': str(src.port), 'tunnel_buffer': '256k'})
    rss0 = p.rss_kb()
    c = tunnel(t, p.port, '127.0.0.1:%d' % src.port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 10)
    c.send(b'go')  # not a ClientHello: relay starts at once
    time.sleep(1.5)  # we do not read: the proxy must stop reading the origin
    rss1 = p.rss_kb()
    check(rss1 - rss0 < (64 if p.sanitized() else 16) * 1024, 'proxy RSS grew by %d KiB while the client did not read' % (rss1 - rss0))
    first = bytes(c.rd.buf)  # whatever came with the CONNECT answer
    c.rd.buf.clear()
    got = len(first)
    bad = check_payload(first)
    c.sock.settimeout(10)
    while True:
        d = c.sock.recv(1 << 20)
        if not d:
            break
        if bad < 0:
            i = check_payload(d, got)
            if i >= 0:
                bad = got + i
        got += len(d)
    eq(got, n, 'bytes received')
    eq(bad, -1, 'first corrupted byte')
    c.close()


def test_bulk_tunnel_splices_with_slow_client(t):
    """A client slower than its origin keeps the proxy's output to it full: the
    tunnel must still move to splice(2) (it used to wait for a read while at
    most 32 KiB was buffered each way, which such a client never lets happen,
    so the whole transfer was copied through the process), and every byte
    must arrive in order."""
    n = 32 << 20
    src = t.tcp_origin('source:%d' % n)
    p = t.proxy({'connect_ports': str(src.port), 'tunnel_buffer': '256k'})
    c = tunnel(t, p.port, '127.0.0.1:%d' % src.port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    c.send(b'go')  # not a ClientHello: relay starts at once
    time.sleep(1)  # not reading: every buffer on the way fills up
    first = bytes(c.rd.buf)
    c.rd.buf.clear()
    got = len(first)
    bad = check_payload(first)
    c.sock.settimeout(10)
    start = time.monotonic()
    rate = 48e6  # bytes/s, below what the origin sends
    while True:
        d = c.sock.recv(64 << 10)
        if not d:
            break
        if bad < 0:
            i = check_payload(d, got)
            if i >= 0:
                bad = got + i
        got += len(d)
        ahead = (got - len(first)) / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    eq(got, n, 'bytes received')
    eq(bad, -1, 'first corrupted byte')
    c.close()
    line = wait_for(lambda: next((ln for ln in p.log_lines() if 'moving to splice' in ln), None),
                    5, what='the tunnel moved to splice')
    at = int(line.split('after ')[1].split()[0])
    check(at < n // 2, 'moved to splice only after %d of %d bytes' % (at, n))


def test_large_upload_back_pressure(t):
    n = 64 << 20
    sink = t.tcp_origin('sink', delay=1.8)
    p = t.proxy({'connect_ports': str(sink.port), 'tunnel_buffer': '256k'})
    c = tunnel(t, p.port, '127.0.0.1:%d' % sink.port)
    err = []

    def send():
        try:
            sent = 0
            while sent < n:
                mv = payload_view(sent, min(n - sent, 1 << 18))
                c.sock.sendall(mv)
                sent += len(mv)
            c.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    c.sock.settimeout(30)
    th = threading.Thread(target=send)
    rss0 = p.rss_kb()
    th.start()
    time.sleep(1.3)
    rss1 = p.rss_kb()
    check(rss1 - rss0 < (64 if p.sanitized() else 16) * 1024, 'proxy RSS grew by %d KiB while the origin did not read' % (rss1 - rss0))
    th.join(30)
    eq(err, [], 'send errors')
    eq(c.read_all(10), b'GOT %d\n' % n, 'origin got every byte')
    eq(sink.sessions[0].get('bad_at'), -1, 'first corrupted byte at the origin')
    c.close()


@ref_ok
def test_connect_unresolvable_502(t):
    p = t.proxy({'connect_ports': '443'})
    t0 = time.monotonic()
    c, r = connect_raw(p.port, 'no-such-host.test:443')
    eq(r.status, 502, 'CONNECT to a name our DNS server does not know')
    check(time.monotonic() - t0 < 5, 'answer took %.1fs' % (time.monotonic() - t0))
    c.close()


@ref_ok
def test_connect_refused_502(t):
    from harness import free_port
    port = free_port()
    p = t.proxy({'connect_ports': str(port)})
    c, r = connect_raw(p.port, '127.0.0.1:%d' % port)
    eq(r.status, 502, 'CONNECT to a closed port')
    c.close()


def test_connect_ipv6_target(t):
    echo = t.tcp_origin('echo', host='::1')
    p = t.proxy({'connect_ports': str(echo.port)})
    c = tunnel(t, p.port, '[::1]:%d' % echo.port)
    c.send(b'six')
    eq(c.read_exact(3), b'six', 'echo over IPv6')
    c.close()


def test_connect_by_dns_name(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(echo.port)})
    c = tunnel(t, p.port, 'dns-only.test:%d' % echo.port)
    c.send(b'named')
    eq(c.read_exact(5), b'named', 'echo through a tunnel to a name from our DNS server')
    c.close()
    rec = p.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')
    eq(rec['host'], 'dns-only.test', 'record host')


@ref_ok
def test_connect_bad_authority_400(t):
    for auth in ('127.0.0.1', 'http://127.0.0.1:443/', '127.0.0.1:', '127.0.0.1:notaport'):
        c, r = connect_raw(t.p.port, auth)
        eq(r.status, 400, 'CONNECT %s' % auth)
        c.close()


def test_tunnel_idle_timeout(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(echo.port), 'tunnel_idle_timeout': '1s'})
    c = tunnel(t, p.port, '127.0.0.1:%d' % echo.port)
    c.send(b'hi')
    eq(c.read_exact(2), b'hi', 'echo')
    t0 = time.monotonic()
    check(c.closed_within(4), 'idle tunnel still open after 4 s (tunnel_idle_timeout 1s)')
    el = time.monotonic() - t0
    check(el > 0.7, 'tunnel closed after %.2fs, before its idle timeout' % el)
    c.close()
    rec = p.wait_record(lambda x: x.get('kind') == 'tunnel', what='tunnel record')
    check('idle' in rec.get('close', ''), 'close reason %r' % rec.get('close'))


def test_tunnel_activity_keeps_it_open(t):
    echo = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(echo.port), 'tunnel_idle_timeout': '1s'})
    c = tunnel(t, p.port, '127.0.0.1:%d' % echo.port)
    for i in range(6):
        c.send(b'k')
        eq(c.read_exact(1), b'k', 'echo %d' % i)
        time.sleep(0.4)
    c.close()


if __name__ == '__main__':
    run(globals())
