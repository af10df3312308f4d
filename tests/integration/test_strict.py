#!/usr/bin/env python3
"""Strict parsing over raw sockets: 400/414/431 for malformed and ambiguous
request heads (smuggling cases among them), nothing relayed to the origin,
the connection closed; malformed response heads give 502; origin-form is
never relayed; hop-by-hop headers removed and Via added both ways."""

import time

from harness import Raw, Response, check, curl, eq, http_get, payload, ref_ok, run, short, Origin

# name: (request bytes with {u} = absolute URL of the origin's /echo with a marker,
#        {a} = origin authority, allowed statuses)
BAD_REQUESTS = [
    # the framing field named as hop-by-hop: forwarded without it, the body would be a second request
    ('conn_names_cl', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nConnection: Content-Length\r\nContent-Length: 51\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: www.instagram.com\r\n\r\n', (400,)),
    ('conn_names_cl_list', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nConnection: keep-alive, content-length\r\nContent-Length: 51\r\n\r\nGET /SMUGGLED HTTP/1.1\r\nHost: www.instagram.com\r\n\r\n', (400,)),
    ('conn_names_te', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n33\r\nGET /SMUGGLED HTTP/1.1\r\nHost: www.instagram.com\r\n\r\n\r\n0\r\n\r\n', (400,)),
    ('cl_and_te', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG', (400,)),
    ('te_and_cl', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', (400,)),
    ('cl_differing', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', (400,)),
    ('cl_repeated_same', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', (400,)),
    ('cl_list', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 5, 5\r\n\r\nhello', (400,)),
    ('cl_plus', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: +5\r\n\r\nhello', (400,)),
    ('cl_hex', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 0x5\r\n\r\nhello', (400,)),
    ('cl_negative', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: -1\r\n\r\nhello', (400,)),
    ('cl_empty', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: \r\n\r\nhello', (400,)),
    ('cl_overflow', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nContent-Length: 99999999999999999999999\r\n\r\nhello', (400, 413)),
    ('te_not_chunked', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', (400, 501)),
    ('te_chunked_not_last', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n', (400, 501)),
    ('te_chunked_twice', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', (400,)),
    ('te_vertical_tab', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n', (400, 501)),
    ('te_space_before_colon', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n', (400,)),
    ('chunk_size_invalid', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', (400,)),
    ('chunk_size_negative', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n', (400,)),
    ('chunk_size_0x', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n', (400,)),
    ('chunk_size_overflow', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n', (400, 413)),
    ('chunk_data_no_crlf', 'POST {u} HTTP/1.1\r\nHost: {a}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n', (400,)),
    ('obs_fold', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nX-Folded: a\r\n b\r\n\r\n', (400,)),
    ('obs_fold_first_line', 'GET {u} HTTP/1.1\r\n X-Lead: a\r\nHost: {a}\r\n\r\n', (400,)),
    ('bare_cr_in_value', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nX-Cr: a\rb\r\n\r\n', (400,)),
    ('bare_cr_line_end', 'GET {u} HTTP/1.1\r\nHost: {a}\rX-Cr: a\r\n\r\n', (400,)),
    ('nul_in_value', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nX-Nul: a\x00b\r\n\r\n', (400,)),
    ('space_before_colon', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nX-Space : a\r\n\r\n', (400,)),
    ('tab_before_colon', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nX-Tab\t: a\r\n\r\n', (400,)),
    ('bad_header_name_token', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nX(Bad): a\r\n\r\n', (400,)),
    ('header_name_with_space', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nX Bad: a\r\n\r\n', (400,)),
    ('empty_header_name', 'GET {u} HTTP/1.1\r\nHost: {a}\r\n: a\r\n\r\n', (400,)),
    ('header_without_colon', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nNoColonHere\r\n\r\n', (400,)),
    ('bad_method_token', 'GE(T {u} HTTP/1.1\r\nHost: {a}\r\n\r\n', (400, 501)),
    ('request_line_extra_word', 'GET {u} HTTP/1.1 extra\r\nHost: {a}\r\n\r\n', (400,)),
    ('request_line_double_space', 'GET  {u} HTTP/1.1\r\nHost: {a}\r\n\r\n', (400,)),
    ('version_lowercase', 'GET {u} http/1.1\r\nHost: {a}\r\n\r\n', (400,)),
    ('version_garbage', 'GET {u} HTTP/1.x\r\nHost: {a}\r\n\r\n', (400,)),
    ('version_2', 'GET {u} HTTP/2.0\r\nHost: {a}\r\n\r\n', (400, 505)),
    ('http09_request_line', 'GET {u}\r\n\r\n', (400,)),
    ('host_missing_http11', 'GET {u} HTTP/1.1\r\nX-No-Host: 1\r\n\r\n', (400,)),
    ('host_twice', 'GET {u} HTTP/1.1\r\nHost: {a}\r\nHost: {a}\r\n\r\n', (400,)),
    ('asterisk_with_get', 'GET * HTTP/1.1\r\nHost: {a}\r\n\r\n', (400,)),
    ('port_out_of_range', 'GET http://127.0.0.1:99999/echo?case={m} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', (400,)),
    ('port_zero', 'GET http://127.0.0.1:0/echo?case={m} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', (400,)),
    ('nul_in_target', 'GET {u}\x00x HTTP/1.1\r\nHost: {a}\r\n\r\n', (400,)),
]


def _bad_request_test(name, text, statuses):
    def test(t):
        marker = 'strict-%s-%d' % (name, time.monotonic_ns())
        u = t.origin.url('/echo?case=' + marker)
        req = text.replace('{u}', u).replace('{a}', t.origin.authority).replace('{m}', marker)
        # a smuggled second request rides behind every bad one
        smuggled = 'GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.url('/echo?smuggled=' + marker), t.origin.authority)
        c = Raw(t.p.port)
        c.send(req.encode('latin-1') + smuggled.encode())
        raw = c.rd.read_until(b'\r\n\r\n')
        r = Response(raw)
        check(r.status in statuses, '%s: status %s, want %s; head %s' % (name, r.status, statuses, short(raw, 200)))
        # the connection cannot be trusted any more: the proxy closes it (no second response)
        check(c.closed_within(3), '%s: connection left open after %d' % (name, r.status))
        rest = bytes(c.rd.buf)
        check(b'HTTP/1.1 200' not in rest, '%s: a second response followed: %s' % (name, short(rest)))
        c.close()
        time.sleep(0.1)
        leaked = [p for p in t.origin.paths() if marker in p or 'SMUGGLED' in p]
        eq(leaked, [], '%s: requests that reached the origin' % name)
    test.__name__ = 'test_reject_' + name
    test.ref_ok = True
    return test


for _n, _t, _s in BAD_REQUESTS:
    globals()['test_reject_' + _n] = _bad_request_test(_n, _t, _s)


def _expect_status(t, data, status, what, port=None):
    c = Raw(port or t.p.port)
    c.send(data)
    r = Response(c.rd.read_until(b'\r\n\r\n'))
    eq(r.status, status, what)
    c.close()
    return r


@ref_ok
def test_http10_with_transfer_encoding(t):
    # RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing: 400, or an
    # answer and then the connection closed; what follows it is never taken as a request
    marker = 'te10-%d' % time.monotonic_ns()
    c = Raw(t.p.port)
    c.send(('POST %s HTTP/1.0\r\nHost: %s\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n'
            '0\r\n\r\nGET %s HTTP/1.1\r\nHost: %s\r\n\r\n'
            % (t.origin.url('/body?' + marker), t.origin.authority, t.origin.url('/echo?smuggled=' + marker),
               t.origin.authority)).encode())
    r = Response(c.rd.read_until(b'\r\n\r\n'))
    check(r.status in (400, 200), 'status %s' % r.status)
    check(c.closed_within(3), 'connection left open after an HTTP/1.0 message with Transfer-Encoding')
    c.close()
    time.sleep(0.1)
    eq([x for x in t.origin.paths() if 'smuggled=' + marker in x], [], 'smuggled requests at the origin')


@ref_ok
def test_userinfo_in_target(t):
    # RFC 9110 4.2.4: userinfo in an http URI is an error (phishing); never passed on as the host
    c = Raw(t.p.port)
    c.send(('GET http://evil.example@%s/echo?ui=1 HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.authority, t.origin.authority)).encode())
    r = c.response()
    if r.status == 200:
        seen = Response(r.body)
        eq(seen.get('host'), t.origin.authority, 'Host at the origin')
        check(b'evil.example' not in r.body, 'userinfo relayed: %s' % short(r.body))
    else:
        eq(r.status, 400, 'status for a target with userinfo')
    c.close()


@ref_ok
def test_uri_too_long_414(t):
    long = t.origin.url('/echo?x=' + 'a' * 10000)
    _expect_status(t, ('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (long, t.origin.authority)).encode(), 414,
                   'status for a 10 KB target (max_uri_size 8k)')
    check(not any(len(p) > 9000 for p in t.origin.paths()), 'the long target reached the origin')
    # just under the limit is fine
    ok = t.origin.url('/echo?x=' + 'a' * 7000)
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (ok, t.origin.authority)).encode())
    eq(c.response().status, 200, 'a 7 KB target')
    c.close()


def test_uri_limit_is_configurable(t):
    p = t.proxy({'max_uri_size': '1k'})
    _expect_status(t, ('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.url('/echo?x=' + 'a' * 1500), t.origin.authority)).encode(),
                   414, 'status for a 1.5 KB target with max_uri_size = 1k', port=p.port)
    c = Raw(p.port)
    c.send(http_get(t.origin, '/echo?x=' + 'a' * 500))
    eq(c.response().status, 200, 'a 0.5 KB target')
    c.close()


@ref_ok
def test_header_block_too_large_431(t):
    big = ''.join('X-Fill-%d: %s\r\n' % (i, 'b' * 1000) for i in range(70))
    _expect_status(t, ('GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n' % (t.origin.url('/echo?big=1'), t.origin.authority, big)).encode(),
                   431, 'status for a 70 KB header block')
    one = 'X-One: %s\r\n' % ('c' * 70000)
    _expect_status(t, ('GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n' % (t.origin.url('/echo?big=2'), t.origin.authority, one)).encode(),
                   431, 'status for one 70 KB header')
    check(not any('big=' in p for p in t.origin.paths()), 'an over-large head reached the origin')


@ref_ok
def test_header_block_under_limit(t):
    fill = ''.join('X-Fill-%d: %s\r\n' % (i, 'b' * 500) for i in range(110))
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n' % (t.origin.url('/echo?fill=1'), t.origin.authority, fill)).encode())
    r = c.response()
    eq(r.status, 200, 'a 57 KB head with 110 headers is under 64 KiB')
    check(b'X-Fill-109: ' in r.body, 'all headers relayed')
    c.close()


def test_header_limit_is_configurable(t):
    p = t.proxy({'max_header_size': '4k'})
    fill = ''.join('X-Fill-%d: %s\r\n' % (i, 'b' * 100) for i in range(50))
    _expect_status(t, ('GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n' % (t.origin.url('/echo'), t.origin.authority, fill)).encode(),
                   431, 'a 5 KB head with max_header_size = 4k', port=p.port)


@ref_ok
def test_origin_form_never_relayed(t):
    before = len(t.origin.paths())
    for target in ('/echo?origin-form=1', '/', '/size/10'):
        c = Raw(t.p.port)
        c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (target, t.origin.authority)).encode())
        r = c.response()
        check(r.status == 400 or 200 <= r.status < 300 or r.status == 404,
              'origin-form %s: status %s' % (target, r.status))
        check(b'GET /echo' not in r.body and r.body != payload(10), 'origin-form %s was relayed: %s' % (target, short(r.body)))
        c.close()
    time.sleep(0.1)
    eq(t.origin.paths()[before:], [], 'requests at the origin from origin-form requests')


@ref_ok
def test_hop_by_hop_request_headers_removed(t):
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\nConnection: keep-alive, X-Hop, Upgrade\r\nX-Hop: secret\r\n'
            'Proxy-Connection: keep-alive\r\nKeep-Alive: timeout=300\r\nTE: trailers, deflate\r\nTrailer: X-T\r\n'
            'Upgrade: h2c\r\nProxy-Authenticate: Basic\r\n'
            'X-End: kept\r\n\r\n' % (t.origin.url('/echo?hop=1'), t.origin.authority)).encode())
    r = c.response()
    eq(r.status, 200, 'status')
    seen = Response(r.body)
    for h in ('X-Hop', 'Proxy-Connection', 'Keep-Alive', 'Trailer', 'Upgrade', 'Proxy-Authenticate'):
        check(not seen.has(h), '%s reached the origin: %s' % (h, seen.headers))
    check('deflate' not in seen.tokens('te'), 'client TE reached the origin: %s' % seen.get('te'))
    for tok in seen.tokens('connection'):
        check(tok in ('keep-alive', 'close'), 'Connection at the origin names %r' % tok)
    eq(seen.get('x-end'), 'kept', 'end-to-end header')
    c.close()


@ref_ok
def test_proxy_authorization_never_relayed(t):
    # without users configured the proxy may ignore the credentials (200) or refuse them (407):
    # either way they must not reach the origin
    c = Raw(t.p.port)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: Basic dXNlcjpwYXNz\r\n\r\n'
            % (t.origin.url('/echo?pa=1'), t.origin.authority)).encode())
    r = c.response()
    check(r.status in (200, 407), 'status %s' % r.status)
    if r.status == 200:
        check(not Response(r.body).has('proxy-authorization'), 'credentials reached the origin: %s' % short(r.body))
    check(b'dXNlcjpwYXNz' not in r.body, 'credentials echoed back')
    c.close()
    time.sleep(0.1)
    for req in t.origin.requests:
        check(not req.has('proxy-authorization'), 'credentials reached the origin in %s' % req.target)


@ref_ok
def test_hop_by_hop_response_headers_removed(t):
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/headers'))
    r = c.response()
    eq(r.status, 200, 'status')
    for h in ('X-Secret', 'Keep-Alive', 'Proxy-Authenticate', 'Upgrade'):
        check(not r.has(h), '%s reached the client: %s' % (h, r.headers))
    for tok in r.tokens('connection'):
        check(tok in ('keep-alive', 'close'), 'Connection to the client names %r' % tok)
    eq(r.get('x-end-to-end'), 'kept', 'end-to-end header')
    c.close()


@ref_ok
def test_via_added(t):
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/echo?via=1'))
    r = c.response()
    seen = Response(r.body)
    via = seen.get('via', '')
    check('1.1 bt-test' in via, 'Via at the origin names the protocol and visible_hostname: %r' % via)
    check('bt-test' in r.get('via', ''), 'Via on the response to the client: %r' % r.get('via'))
    c.send(http_get(t.origin, '/echo?via=2', extra='Via: 1.0 fred\r\n'))
    r = c.response()
    vias = [x.strip() for x in Response(r.body).tokens('via')]
    check(len(vias) >= 2 and vias[0].startswith('1.0 fred') and 'bt-test' in vias[-1],
          'Via appended after the client\'s: %r' % Response(r.body).get('via'))
    c.close()


BAD_RESPONSES = ['cl-te', 'dup-cl', 'bare-cr', 'space-colon', 'status-line', 'not-http', 'neg-cl', 'big-head',
                 'conn-cl', 'conn-te']


def _bad_response_test(kind):
    def test(t):
        c = Raw(t.p.port)
        c.send(http_get(t.origin, '/bad/' + kind))
        try:
            r = c.response()
        except (EOFError, ValueError, ConnectionError) as e:
            raise AssertionError('no response to a malformed origin response (%s): %s' % (kind, e))
        eq(r.status, 502, 'status for a malformed origin response %s (body %s)' % (kind, short(r.body, 80)))
        c.close()
    test.__name__ = 'test_bad_response_' + kind.replace('-', '_')
    test.ref_ok = True
    return test


for _k in BAD_RESPONSES:
    globals()['test_bad_response_' + _k.replace('-', '_')] = _bad_response_test(_k)


@ref_ok
def test_response_extra_bytes_not_relayed(t):
    # the origin sends a second, unasked-for response after the first: it must never reach a client
    o = Origin()
    t.defer(o.stop)
    p = t.proxy({'workers': '1'})
    c = Raw(p.port)
    c.send(http_get(o, '/extra'))
    r = c.response()
    eq((r.status, r.body), (200, b'hello'), 'first response')
    for i in range(3):
        c.send(http_get(o, '/conn'))
        r = c.response()
        check(not r.has('x-injected') and r.body != b'evil', 'injected response relayed: %r' % r)
        check(r.body.startswith(b'conn='), 'response %d: %s' % (i, short(r.body)))
    c.close()
    r = curl(p, o.url('/conn'))
    check(r.body.startswith(b'conn='), 'a new client got %s' % short(r.body))


@ref_ok
def test_head_response_with_body_not_relayed(t):
    o = Origin()
    t.defer(o.stop)
    p = t.proxy({'workers': '1'})
    c = Raw(p.port)
    c.send(http_get(o, '/headbody', method='HEAD'))
    r = c.response('HEAD')
    eq(r.status, 200, 'HEAD status')
    c.send(http_get(o, '/size/6'))
    r = c.response()
    eq((r.status, r.body), (200, payload(6)), 'next response after a HEAD answered with a body')
    c.close()
    r = curl(p, o.url('/size/7'))
    eq(r.body, payload(7), 'a new client after the bad HEAD answer')


@ref_ok
def test_pipelined_bodies_keep_boundaries(t):
    c = Raw(t.p.port)
    a = t.origin.authority
    c.send(('POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 5\r\n\r\nfirst' % (t.origin.url('/body'), a)).encode()
           + ('POST %s HTTP/1.1\r\nHost: %s\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n' % (t.origin.url('/body'), a)).encode()
           + ('GET %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 4\r\n\r\nGETX' % (t.origin.url('/body'), a)).encode()
           + http_get(t.origin, '/size/3'))
    eq(c.response().body, b'first', 'first body')
    eq(c.response().body, b'second', 'second (chunked) body')
    eq(c.response().body, b'GETX', 'GET with a body')
    eq(c.response().body, payload(3), 'last response')
    c.close()


@ref_ok
def test_bad_response_obs_fold(t):
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/bad/obs-fold'))
    r = c.response()
    # RFC 9112 5.2: a proxy either answers 502 or replaces the fold with spaces
    if r.status == 200:
        check(b'\r\n b' not in r.raw and b'\r\n\tb' not in r.raw, 'obs-fold relayed as is: %s' % short(r.raw))
        eq(r.body, b'hello', 'body')
    else:
        eq(r.status, 502, 'status')
    c.close()


@ref_ok
def test_bad_response_chunk_size_aborts(t):
    c = Raw(t.p.port)
    c.send(http_get(t.origin, '/bad/bad-chunk'))
    try:
        r = c.response()
    except (EOFError, ValueError, ConnectionError):
        return  # the client sees a broken message: right
    check(r.status == 502, 'a bad chunk size from the origin was relayed as a complete response: %r' % r)


if __name__ == '__main__':
    run(globals())
