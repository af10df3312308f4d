#!/usr/bin/env python3
"""HTTP/1.1 forward proxying: methods, bodies, framing, HEAD/204/304,
100-continue, 1xx, HTTP/1.0, keep-alive, pipelining, upstream reuse,
websocket, IPv6, name resolution. Real curl where it can say it; raw
sockets where the exact bytes matter."""

import hashlib
import os
import socket
import time

from harness import (Raw, Response, check, curl, eq, http_get, payload, check_payload, ref_ok, run, short,
                     wait_for, Origin, TestFailure)


@ref_ok
def test_get_fixed_length(t):
    n = 300000
    r = curl(t.p, t.origin.url('/size/%d' % n))
    eq(r.rc, 0, 'curl exit code (%r)' % r)
    eq(r.code, 200, 'status')
    eq(len(r.body), n, 'body length')
    eq(check_payload(r.body), -1, 'first corrupted byte')
    eq(r.head.get('content-length'), str(n), 'Content-Length relayed')
    if t.p.kind == 'breaktimed':
        rec = t.p.wait_record(lambda x: x.get('kind') == 'request' and x.get('status') == '200'
                              and x.get('method') == 'GET' and x.get('port') == str(t.origin.port))
        eq(rec.get('host'), '127.0.0.1', 'record host')
        eq(rec.get('client'), '127.0.0.1', 'record client')
        check(n <= int(rec['down']) < n + 4096, 'record down=%s for a %d-byte body' % (rec['down'], n))
        check(int(rec['up']) > 20, 'record up=%s counts the request head' % rec['up'])


@ref_ok
def test_methods_relayed(t):
    for m in ('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'X-CUSTOM-1'):
        args = ['-X', m, t.origin.url('/echo?m=' + m)]
        if m in ('POST', 'PUT', 'PATCH', 'PROPFIND'):
            args = ['--data-binary', 'payload-' + m] + args
        r = curl(t.p, *args)
        eq(r.code, 200, '%s status (%r)' % (m, r))
        line = r.body.split(b'\r\n', 1)[0].decode()
        eq(line, '%s /echo?m=%s HTTP/1.1' % (m, m), 'request line the origin saw for ' + m)


@ref_ok
def test_post_content_length(t):
    data = payload(1 << 20, 7)
    path = os.path.join(t.tmp, 'post.bin')
    open(path, 'wb').write(data)
    r = curl(t.p, '--data-binary', '@' + path, '-H', 'Content-Type: application/octet-stream',
             '-H', 'Expect:', t.origin.url('/body'))
    eq(r.code, 200, 'status (%r)' % r)
    eq(r.head.get('x-body-sha1'), hashlib.sha1(data).hexdigest(), 'origin saw the whole body')
    eq(r.body, data, 'echoed body')


@ref_ok
def test_post_chunked(t):
    data = payload(700001, 3)
    path = os.path.join(t.tmp, 'post.bin')
    open(path, 'wb').write(data)
    r = curl(t.p, '--data-binary', '@' + path, '-H', 'Transfer-Encoding: chunked', '-H', 'Expect:',
             t.origin.url('/body'))
    eq(r.code, 200, 'status (%r)' % r)
    eq(r.head.get('x-body-sha1'), hashlib.sha1(data).hexdigest(), 'origin saw the whole chunked body')
    check(r.head.get('x-framing') in ('chunked', 'length'), 'framing at the origin: %s' % r.head.get('x-framing'))


@ref_ok
def test_chunked_request_with_trailers_then_next_request(t):
    c = Raw(t.p.port)
    body = b'5;ext=x\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n'
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n' % (t.origin.url('/body'), t.origin.authority)).encode() + body)
    r = c.response()
    eq(r.status, 200, 'status')
    eq(r.body, b'hello world', 'dechunked body at the origin')
    c.send(http_get(t.origin, '/size/10'))
    r2 = c.response()
    eq((r2.status, r2.body), (200, payload(10)), 'next request on the same connection')
    c.close()


@ref_ok
def test_response_chunked(t):
    n = 250000
    r = curl(t.p, t.origin.url('/chunked/%d?chunk=7000&trailer=1&ext=1' % n))
    eq(r.code, 200, 'status (%r)' % r)
    eq(len(r.body), n, 'body length')
    eq(check_payload(r.body), -1, 'first corrupted byte')
    # and the connection stays usable: framing was understood, not guessed
    c = Raw(t.p.port)
    for _ in range(3):
        c.send(http_get(t.origin, '/chunked/%d?chunk=999' % 5000))
        r = c.response()
        eq(r.status, 200, 'status')
        eq(r.body, payload(5000), 'chunked body on a persistent connection')
    c.close()


@ref_ok
def test_response_close_delimited(t):
    n = 200000
    r = curl(t.p, t.origin.url('/close/%d' % n))
    eq((r.rc, r.code), (0, 200), 'curl (%r)' % r)
    eq(len(r.body), n, 'body length')
    eq(check_payload(r.body), -1, 'first corrupted byte')
    # a persistent client: the proxy must either re-frame (chunked) or close after the body
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/close/5000'))
    r = c.response()
    eq(r.body, payload(5000), 'close-delimited body relayed to a keep-alive client (framing %s)' % r.framing)
    if r.framing != 'close':
        c.send(http_get(t.origin, '/size/3'))
        eq(c.response().body, payload(3), 'next request after a re-framed response')
    c.close()


@ref_ok
def test_head_has_no_body(t):
    r = curl(t.p, '-I', t.origin.url('/size/123456'))
    eq(r.code, 200, 'status (%r)' % r)
    eq(r.head.get('content-length'), '123456', 'Content-Length of the HEAD response')
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/size/5000', method='HEAD'))
    r = c.response('HEAD')
    eq(r.status, 200, 'HEAD status')
    c.send(http_get(t.origin, '/size/7'))
    r = c.response()
    eq((r.status, r.body), (200, payload(7)), 'GET after HEAD on the same connection (a body after HEAD would desync)')
    # also chunked HEAD responses
    c.send(http_get(t.origin, '/chunked/5000', method='HEAD'))
    eq(c.response('HEAD').status, 200, 'HEAD of a chunked resource')
    c.send(http_get(t.origin, '/size/9'))
    eq(c.response().body, payload(9), 'GET after chunked HEAD')
    c.close()


@ref_ok
def test_204_and_304_have_no_body(t):
    c = Raw(t.p.port)
    for code in (204, 304, 204):
        c.send(http_get(t.origin, '/status/%d' % code))
        r = c.response()
        eq(r.status, code, 'status')
        c.send(http_get(t.origin, '/size/11'))
        r = c.response()
        eq((r.status, r.body), (200, payload(11)), 'request after %d on the same connection' % code)
    c.close()
    r = curl(t.p, t.origin.url('/status/304'))
    eq((r.rc, r.code, r.body), (0, 304, b''), 'curl 304 (%r)' % r)


@ref_ok
def test_expect_100_continue_curl(t):
    data = payload(200000, 11)
    path = os.path.join(t.tmp, 'post.bin')
    open(path, 'wb').write(data)
    # curl sends the body anyway after --expect100-timeout: a proxy that does not
    # pass on (or produce) the 100 makes this take 6 s
    r = curl(t.p, '--expect100-timeout', '6', '-H', 'Expect: 100-continue', '--data-binary', '@' + path,
             t.origin.url('/body'))
    eq(r.code, 200, 'status (%r)' % r)
    eq(r.head.get('x-body-sha1'), hashlib.sha1(data).hexdigest(), 'body at the origin')
    check(any(x.status == 100 for x in r.responses), 'client got a 100 Continue (responses: %s)' % [x.status for x in r.responses])
    check(r.elapsed < 4, 'took %.1fs: waited for the expect timeout' % r.elapsed)


@ref_ok
def test_expect_100_continue_raw(t):
    c = Raw(t.p.port)
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n'
            % (t.origin.url('/body'), t.origin.authority)).encode())
    c.sock.settimeout(3)
    first = c.rd.read_until(b'\r\n\r\n')
    check(first.startswith(b'HTTP/1.1 100'), 'interim 100 before the body is sent, got %s' % short(first))
    c.send(b'0123456789')
    r = c.response()
    eq((r.status, r.body), (200, b'0123456789'), 'final response')
    c.close()


@ref_ok
def test_expect_final_status_without_body(t):
    # the origin answers 401 at once; the client never sends the body
    c = Raw(t.p.port)
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n'
            % (t.origin.url('/reject'), t.origin.authority)).encode())
    c.sock.settimeout(5)
    r = c.response()
    eq(r.status, 401, 'final status relayed without the body being sent')
    eq(r.body, b'denied', 'body')
    c.close()


@ref_ok
def test_interim_1xx_forwarded(t):
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/interim'))
    r = c.response()
    eq((r.status, r.body), (200, b'final'), 'final response')
    eq([x.status for x in r.interim], [103], 'interim responses relayed')
    eq(r.interim[0].get('link'), '</style.css>; rel=preload', 'Link header of the 103')
    c.close()


@ref_ok
def test_http10_client(t):
    r = curl(t.p, '--http1.0', t.origin.url('/size/4000'))
    eq((r.rc, r.code, r.body), (0, 200, payload(4000)), 'curl --http1.0 (%r)' % r)
    # a chunked origin response must reach a 1.0 client unchunked
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.0\r\n\r\n' % t.origin.url('/chunked/30000?chunk=1000')).encode())
    r = c.response()
    eq(r.status, 200, 'status')
    check(r.version in ('HTTP/1.0', 'HTTP/1.1'), 'version %s' % r.version)
    check(r.framing != 'chunked', 'chunked framing sent to an HTTP/1.0 client')
    eq(r.body, payload(30000), 'body')
    # and without keep-alive the proxy closes after the response
    if r.framing == 'length':
        check(c.closed_within(3), 'connection to a 1.0 client without keep-alive stays open')
    c.close()


@ref_ok
def test_http10_keepalive(t):
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' % t.origin.url('/size/100')).encode())
    r = c.response()
    eq((r.status, r.body), (200, payload(100)), 'first response')
    if r.framing == 'length' and 'keep-alive' in r.tokens('connection'):
        c.send(('GET %s HTTP/1.0\r\nConnection: keep-alive\r\n\r\n' % t.origin.url('/size/10')).encode())
        eq(c.response().body, payload(10), 'second response on a 1.0 keep-alive connection')
    c.close()


@ref_ok
def test_keepalive_client_connection(t):
    urls = [t.origin.url('/size/%d' % n) for n in (10, 20, 30)]
    c = Raw(t.p.port)
    for i in range(5):
        c.send(http_get(t.origin, '/size/%d' % (100 + i)))
        r = c.response()
        eq(r.body, payload(100 + i), 'response %d on one connection' % i)
    c.close()
    # curl reports the connections it opened: one for three URLs
    import subprocess
    from harness import clean_env
    p = subprocess.run(['curl', '-q', '-sS', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null',
                        '-w', '%{num_connects}\\n', '-x', 'http://127.0.0.1:%d' % t.p.port] + urls,
                       capture_output=True, timeout=20, env=clean_env())
    eq(p.stdout.split(), [b'1', b'0', b'0'], 'connections opened by curl per URL')


@ref_ok
def test_client_connection_close(t):
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/size/20', extra='Connection: close\r\n'))
    r = c.response()
    eq(r.body, payload(20), 'body')
    check('close' in r.tokens('connection'), 'Connection: close in the answer to a Connection: close request: %s' % r.headers)
    check(c.closed_within(2), 'connection left open after Connection: close')
    c.close()


@ref_ok
def test_origin_closes_idle_pooled_connection(t):
    # the origin's keep-alive timeout is shorter than the pool's: the next request must not fail
    o = Origin()
    t.defer(o.stop)
    p = t.proxy({'workers': '1', 'pool_idle_timeout': '30s'})
    r1 = curl(p, o.url('/conn?idle_close=0.3'))
    eq(r1.code, 200, 'first request')
    time.sleep(1.0)
    for i in range(3):
        r = curl(p, o.url('/conn?idle_close=0.3'))
        eq((r.rc, r.code), (0, 200), 'request %d after the origin closed the pooled connection (%r)' % (i, r))
        time.sleep(0.5)


@ref_ok
def test_pipelined_requests_in_order(t):
    c = Raw(t.p.port, timeout=10)
    reqs = (http_get(t.origin, '/slow/3000?parts=3&delay=0.2&first=0.3') + http_get(t.origin, '/size/17')
            + http_get(t.origin, '/chunked/2000?chunk=300') + http_get(t.origin, '/size/5', method='HEAD')
            + http_get(t.origin, '/echo?last=1'))
    c.send(reqs)
    r1 = c.response()
    eq((r1.status, r1.body), (200, payload(3000)), 'first (slow) response comes first')
    r2 = c.response()
    eq(r2.body, payload(17), 'second response')
    r3 = c.response()
    eq(r3.body, payload(2000), 'third response')
    r4 = c.response('HEAD')
    eq((r4.status, r4.get('content-length')), (200, '5'), 'fourth (HEAD) response')
    r5 = c.response()
    check(r5.body.startswith(b'GET /echo?last=1 HTTP/1.1'), 'fifth response: %s' % short(r5.body))
    c.close()


@ref_ok
def test_upstream_connection_reused(t):
    # one worker: sequential requests from different client connections share one pooled origin connection
    p = t.proxy({'workers': '1'})
    o = Origin()
    t.defer(o.stop)
    ids = []
    for i in range(4):
        r = curl(p, o.url('/conn'))
        eq(r.code, 200, 'status (%r)' % r)
        ids.append(r.head.get('x-conn-id'))
        time.sleep(0.05)
    eq(set(ids), {ids[0]}, 'origin connection ids of 4 sequential requests (one worker)')
    # an origin answering Connection: close is not reused
    r1 = curl(p, o.url('/conn-close'))
    r2 = curl(p, o.url('/conn'))
    eq(r2.code, 200, 'request after a Connection: close response (%r)' % r2)
    check(r2.head.get('x-conn-id') != r1.head.get('x-conn-id'), 'closed origin connection reused')


@ref_ok
def test_upstream_reuse_with_two_workers(t):
    # pools may be per worker: 8 sequential requests open at most one origin connection per worker
    o = Origin()
    t.defer(o.stop)
    ids = set()
    for i in range(8):
        r = curl(t.p, o.url('/conn'))
        eq(r.code, 200, 'status (%r)' % r)
        ids.add(r.head.get('x-conn-id'))
    check(len(ids) <= 2, '8 sequential requests used %d origin connections with 2 workers' % len(ids))


def test_upstream_pool_idle_timeout(t):
    p = t.proxy({'pool_idle_timeout': '1s'})
    o = Origin()
    t.defer(o.stop)
    r = curl(p, o.url('/conn'))
    eq(r.code, 200, 'status')
    wait_for(lambda: o.open_conns == 1, 2, what='a pooled origin connection')
    wait_for(lambda: o.open_conns == 0, 4, what='the pooled connection to close after pool_idle_timeout')
    r2 = curl(p, o.url('/conn'))
    eq(r2.code, 200, 'request after the pool expired')
    check(r2.head.get('x-conn-id') != r.head.get('x-conn-id'), 'expired connection reused')


@ref_ok
def test_websocket_upgrade(t):
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'
            % (t.origin.url('/ws'), t.origin.authority)).encode())
    raw = c.rd.read_until(b'\r\n\r\n')
    from harness import Response
    r = Response(raw)
    eq(r.status, 101, 'status (%s)' % short(raw))
    eq(r.get('sec-websocket-accept'), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'accept key')
    check('websocket' in r.tokens('upgrade'), 'Upgrade header to the client: %s' % r.headers)
    blob = payload(300000, 99)
    c.send(blob)
    got = c.read_exact(len(blob))
    eq(got, blob, 'bytes echoed through the upgraded connection')
    c.send(b'last')
    eq(c.read_exact(4), b'last', 'second round trip')
    c.close()
    req = [x for x in t.origin.requests if x.path == '/ws'][-1]
    check('websocket' in req.tokens('upgrade'), 'origin got Upgrade: websocket: %s' % req.headers)


@ref_ok
def test_host_rewritten_and_origin_form(t):
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.1\r\nHost: wrong.example\r\nX-Keep: yes\r\n\r\n' % t.origin.url('/echo?q=a%20b&x=1')).encode())
    r = c.response()
    eq(r.status, 200, 'status')
    seen = r.body.decode('latin-1').split('\r\n')
    eq(seen[0], 'GET /echo?q=a%20b&x=1 HTTP/1.1', 'origin-form request line at the origin')
    hosts = [ln.split(':', 1)[1].strip() for ln in seen if ln.lower().startswith('host:')]
    eq(hosts, [t.origin.authority], 'exactly one Host, from the request target')
    check('X-Keep: yes' in seen, 'end-to-end header kept: %s' % seen)
    c.close()


@ref_ok
def test_empty_path_targets(t):
    # RFC 9112 3.2.1 and 3.2.4: an empty path is sent as "/", and as "*" for OPTIONS
    o = Origin()
    t.defer(o.stop)
    c = Raw(t.p.port)
    c.send(('GET http://%s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.authority, o.authority)).encode())
    c.response()
    c.send(('OPTIONS http://%s HTTP/1.1\r\nHost: %s\r\n\r\n' % (o.authority, o.authority)).encode())
    c.response()
    c.close()
    eq([(r.method, r.target) for r in o.requests], [('GET', '/'), ('OPTIONS', '*')], 'request targets at the origin')


@ref_ok
def test_large_response_heads_relayed(t):
    for n, size, what in ((60, 1000, '60 KB in 60 headers'), (100, 100, '100 headers')):
        r = curl(t.p, t.origin.url('/bighead?n=%d&size=%d' % (n, size)))
        eq((r.code, r.body), (200, b'ok'), 'response head of %s (%r)' % (what, r))
        eq(len(r.head.get_all('x-big-%d' % (n - 1))), 1, 'last header of %s relayed' % what)


@ref_ok
def test_tiny_chunks_both_ways(t):
    r = curl(t.p, t.origin.url('/chunked/20000?chunk=1'))
    eq((r.code, r.body), (200, payload(20000)), '20000 one-byte chunks from the origin')
    body = b''.join(b'1\r\n' + payload(20000)[i:i + 1] + b'\r\n' for i in range(20000)) + b'0\r\n\r\n'
    c = Raw(t.p.port)
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n' % (t.origin.url('/body'), t.origin.authority)).encode())
    for i in range(0, len(body), 1000):
        c.send(body[i:i + 1000])
    r = c.response()
    eq((r.status, r.body), (200, payload(20000)), '20000 one-byte chunks to the origin')
    c.close()


@ref_ok
def test_response_headers_passed(t):
    r = curl(t.p, t.origin.url('/headers'))
    eq(r.code, 200, 'status')
    eq(r.head.get_all('set-cookie'), ['a=1', 'b=2'], 'both Set-Cookie lines')
    eq(r.head.get('x-end-to-end'), 'kept', 'end-to-end header')


@ref_ok
def test_many_headers_under_limit(t):
    hdrs = []
    for i in range(100):
        hdrs += ['-H', 'X-H%d: %s' % (i, 'v' * 300)]
    r = curl(t.p, *hdrs, t.origin.url('/echo'))
    eq(r.code, 200, 'a 30 KB request head is under the 64 KiB limit (%r)' % r)
    check(b'X-H99: ' + b'v' * 300 in r.body, 'all headers reached the origin')


def test_hostname_via_hosts_file(t):
    r = curl(t.p, 'http://hosts-only.test:%d/echo' % t.origin.port)
    eq(r.code, 200, 'status (%r)' % r)
    check(b'Host: hosts-only.test:%d' % t.origin.port in r.body, 'Host at the origin: %s' % short(r.body))
    check('hosts-only.test' not in t.dns.names(), 'a hosts_file name was asked of DNS')
    t.p.wait_record(lambda x: x.get('host') == 'hosts-only.test', what='record with the host name')


def test_hostname_via_dns_server(t):
    before = len(t.dns.queries)
    r = curl(t.p, 'http://dns-only.test:%d/echo' % t.origin.port)
    eq(r.code, 200, 'status (%r)' % r)
    check('dns-only.test' in t.dns.names()[before:], 'our DNS server was not asked: %s' % t.dns.names())
    # the name is cached or asked again; both work
    r = curl(t.p, 'http://DNS-Only.Test.:%d/echo' % t.origin.port)
    eq(r.code, 200, 'upper-case name with a trailing dot (%r)' % r)


def test_ipv6_listener_and_origin(t):
    o6 = Origin('::1')
    t.defer(o6.stop)
    p = t.proxy({'listen': '127.0.0.1:0, [::1]:0'})
    eq(len(p.listeners), 2, 'listeners logged: %s' % p.listeners)
    v6 = [port for host, port in p.listeners if ':' in host]
    check(v6, 'no IPv6 listener: %s' % p.listeners)
    r = curl(p, o6.url('/size/1000'), proxy_url='http://[::1]:%d' % v6[0])
    eq((r.code, r.body), (200, payload(1000)), 'IPv6 client to IPv6 literal origin (%r)' % r)
    r = curl(p, 'http://v6.test:%d/size/100' % o6.port)
    eq((r.code, r.body), (200, payload(100)), 'name with an AAAA/IPv6 hosts entry (%r)' % r)


def test_ipv6_only_name_via_dns(t):
    o6 = Origin('::1')
    t.defer(o6.stop)
    r = curl(t.p, 'http://v6dns.test:%d/size/100' % o6.port)
    eq((r.code, r.body), (200, payload(100)), 'a name with only an AAAA record from our DNS server (%r)' % r)


def test_dual_stack_name_falls_back(t):
    # dual.test has A 127.0.0.1 and AAAA ::1: whichever family the origin lacks must not fail the request
    o6 = Origin('::1')
    t.defer(o6.stop)
    for o, fam in ((t.origin, 'IPv4'), (o6, 'IPv6')):
        r = curl(t.p, 'http://dual.test:%d/size/50' % o.port)
        eq((r.code, r.body), (200, payload(50)), 'dual-stack name, origin on %s only (%r)' % (fam, r))


def test_pool_per_origin_limit(t):
    o = Origin()
    t.defer(o.stop)
    p = t.proxy({'workers': '1', 'pool_per_origin': '1', 'pool_idle_timeout': '10s'})
    import threading
    res = []
    ths = [threading.Thread(target=lambda: res.append(curl(p, o.url('/slow/100?parts=1&first=0.5')))) for _ in range(3)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    eq([r.code for r in res], [200] * 3, 'statuses')
    eq(len(set(r.head.get('x-conn-id') for r in res)), 3, 'three parallel requests use three origin connections')
    time.sleep(0.5)
    eq(o.open_conns, 1, 'idle origin connections kept with pool_per_origin = 1')


@ref_ok
def test_via_received_protocol(t):
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.0\r\n\r\n' % t.origin.url('/echo?via10=1')).encode())
    r = c.response()
    via = Response(r.body).get('via', '')
    check(via.startswith('1.0 '), 'Via for a request received as HTTP/1.0 names 1.0 (RFC 9110 7.6.3): %r' % via)
    c.close()


def test_ipv4_and_ipv6_workers_serve_concurrently(t):
    # several slow downloads at once: the event loop never blocks on one
    import threading
    results = []

    def one():
        results.append(curl(t.p, t.origin.url('/slow/20000?parts=5&delay=0.2')))
    ts = [threading.Thread(target=one) for _ in range(8)]
    t0 = time.monotonic()
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    el = time.monotonic() - t0
    eq([r.code for r in results], [200] * 8, 'statuses')
    check(all(r.body == payload(20000) for r in results), 'bodies')
    check(el < 3.5, '8 parallel 0.8 s downloads took %.1fs: requests serialised' % el)


if __name__ == '__main__':
    run(globals())
