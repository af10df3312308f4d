#!/usr/bin/env python3
"""
Blocking (issue 5): the 403 block page for plain HTTP (built-in and a
replaceable template), 403 for a blocked CONNECT, and a CONNECT whose TLS
ClientHello names a social platform closed right after the ClientHello.
Clients: curl, openssl s_client, raw sockets; the TLS origin is a local
`openssl s_server`.

The daemon runs on a fake clock at Monday 2026-11-23 10:20 (students
present; the staff break starts at 10:30), with default_group = staff.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import check, clean_env, curl, eq, raw_request, run, via, wait_for, tls_tunnel  # noqa: E402

AT = '2026-11-23 10:20'
POLICY = '''
[site]
timezone = Europe/London
[schedule]
students = mon-fri 09:00-10:30, 10:45-12:30
breaks = mon-fri 10:30-10:45
[auth]
default_group = staff
%s
'''


def proxy(kit):
    return kit.shared('main', lambda k: k.daemon(POLICY % '', at=AT, proxy={'connect_ports': '443, %d' % k.tls.port}))


def test_block_page_http(kit):
    d = proxy(kit)
    hits = len(kit.origin.hits)
    r = via(kit, d, 'www.facebook.com', path='/some/page?x=1')
    eq(r.code, 403, 'GET http://www.facebook.com/ at 10:20 for staff')
    check((r.header('Content-Type') or '').startswith('text/html'), 'Content-Type %r' % r.header('Content-Type'))
    eq(r.header('Cache-Control'), 'no-store', 'Cache-Control of the block page')
    for words in ('facebook is not available right now',       # the platform
                  'Social media is not allowed at this time',  # the reason in words
                  'outside-allowed-time',                      # the reason's name
                  'Available again', 'today at 10:30',         # when
                  'www.facebook.com',                          # the site
                  'http://bt-e2e/status'):                     # the status page link
        check(words in r.body, 'block page lacks %r:\n%s' % (words, r.body))
    eq(len(kit.origin.hits), hits, 'requests that reached the origin')
    row = d.wait_event(kind='blocked', host='www.facebook.com')[-1]
    eq((row['status'], row['verdict'], row['reason'], row['platform'], row['grp'], row['close'], row['method']),
       (403, 'block', 'outside-allowed-time', 'facebook', 'staff', 'blocked', 'GET'), 'store row')
    check(row['bytes_down'] >= len(r.body), 'bytes_down %d < page %d' % (row['bytes_down'], len(r.body)))


def test_block_keeps_the_connection(kit):
    # a blocked request without a body keeps the connection: the next request on it is served
    d = proxy(kit)
    req = ('GET http://m.facebook.com:%d/ HTTP/1.1\r\nHost: m.facebook.com:%d\r\n\r\n'
           'GET http://www.example.org:%d/after HTTP/1.1\r\nHost: www.example.org:%d\r\nConnection: close\r\n\r\n'
           % ((kit.origin.port,) * 4)).encode()
    import socket
    s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    s.sendall(req)
    out = b''
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    check(out.startswith(b'HTTP/1.1 403'), 'first response: %r' % out[:100])
    check(b'facebook is not available' in out, 'm.facebook.com is facebook')
    i = out.find(b'HTTP/1.1 200')
    check(i > 0 and b'origin says hello' in out[i:] and b'/after' in out[i:], 'second response: %r' % out[-300:])


def test_block_page_template(kit):
    tpl = kit.write('block.html', '<html><body>\n'
                    'P={{platform}}\nR={{reason}}\nT={{reason_text}}\nU={{until}}\nA={{allowance}}\n'
                    'H={{host}}\nW={{user}}\nS={{status_url}}\nX={{nope}}\n</body></html>\n')
    devices = kit.write('devices', '127.0.0.2 o<b>"x&y\n')
    d = kit.daemon(POLICY % ('devices = %s' % devices), at=AT, proxy={'block_page': tpl})
    r = via(kit, d, 'www.instagram.com', src='127.0.0.2')
    eq(r.code, 403, 'instagram at 10:20')
    want = ['P=instagram', 'R=outside-allowed-time', 'T=Social media is not allowed at this time',
            'U=today at 10:30', 'A=*', 'H=www.instagram.com', 'W=o&lt;b&gt;&quot;x&amp;y',
            'S=http://bt-e2e/status', 'X={{nope}}']
    got = [ln for ln in r.body.splitlines() if len(ln) > 1 and ln[1] == '=']
    # the allowance's wording is the daemon's ("-", "no daily limit"): filled, not left as is
    got = ['A=*' if ln.startswith('A=') and len(ln) > 2 and '{{' not in ln else ln for ln in got]
    eq(got, want, 'the template with its placeholders filled (HTML-escaped)')
    check('not available right now' not in r.body, 'the built-in page was used instead of the template')


def test_blocked_connect_403(kit):
    d = proxy(kit)
    out = raw_request(d.port, b'CONNECT www.facebook.com:443 HTTP/1.1\r\nHost: www.facebook.com:443\r\n\r\n')
    check(out.startswith(b'HTTP/1.1 403'), 'CONNECT www.facebook.com:443 at 10:20: %r' % out[:200])
    row = d.wait_event(kind='blocked', host='www.facebook.com', method='CONNECT')[-1]
    eq((row['status'], row['reason'], row['platform'], row['port']), (403, 'outside-allowed-time', 'facebook', 443),
       'store row')
    # curl -p sees the 403 as a failed CONNECT
    r = curl(kit, '-p', '-x', 'http://127.0.0.1:%d' % d.port, '-k', 'https://www.facebook.com/')
    check(r.rc != 0 and '403' in r.stderr, 'curl -p https://www.facebook.com/: %r' % r)


def s_client(kit, d, connect, sni):
    p = subprocess.run(['openssl', 's_client', '-proxy', '127.0.0.1:%d' % d.port, '-connect', connect,
                        '-servername', sni, '-brief'], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=20, env=clean_env())
    return p.returncode, (p.stdout + p.stderr).decode('utf-8', 'replace')


def test_sni_social_closed_after_client_hello(kit):
    d = proxy(kit)
    tp = kit.tls.port
    # control: the same tunnel with a non-social server name completes its handshake
    rc, out = s_client(kit, d, '127.0.0.1:%d' % tp, 'www.example.org')
    check(rc == 0 and 'CONNECTION ESTABLISHED' in out, 's_client with SNI www.example.org: rc %d\n%s' % (rc, out))
    # an IP-literal CONNECT relies on the SNI: facebook -> closed after the ClientHello
    rc, out = s_client(kit, d, '127.0.0.1:%d' % tp, 'www.facebook.com')
    check(rc != 0 and 'CONNECTION ESTABLISHED' not in out, 's_client with SNI www.facebook.com: rc %d\n%s' % (rc, out))
    # a non-social CONNECT host with a social SNI: the more restrictive answer wins
    rc, out = s_client(kit, d, 'www.example.org:%d' % tp, 'www.facebook.com')
    check(rc != 0 and 'CONNECTION ESTABLISHED' not in out, 'CONNECT www.example.org + SNI facebook: rc %d\n%s' % (rc, out))
    # Python's TLS client the same way: the handshake fails
    st, s, err = tls_tunnel(d.port, '127.0.0.1:%d' % tp, 'www.facebook.com')
    check(st == 200 and s is None, 'python TLS to 127.0.0.1 with SNI www.facebook.com: %s %s' % (st, err))
    # curl -p with --connect-to: CONNECT 127.0.0.1:port, SNI www.facebook.com
    r = curl(kit, '-p', '-x', 'http://127.0.0.1:%d' % d.port, '-k', '--connect-to',
             'www.facebook.com:%d:127.0.0.1:%d' % (tp, tp), 'https://www.facebook.com:%d/' % tp)
    check(r.rc != 0 and r.code != 200, 'curl -p --connect-to with SNI www.facebook.com: %r' % r)
    r = curl(kit, '-p', '-x', 'http://127.0.0.1:%d' % d.port, '-k', '--connect-to',
             'www.example.org:%d:127.0.0.1:%d' % (tp, tp), 'https://www.example.org:%d/' % tp)
    eq(r.code, 200, 'curl -p --connect-to with SNI www.example.org: %r' % r)
    rows = wait_for(lambda: [x for x in d.events(close='blocked-sni')] if len(d.events(close='blocked-sni')) >= 4 else None,
                    5, what='4 blocked-sni rows')
    for row in rows:
        eq((row['kind'], row['verdict'], row['reason'], row['platform'], row['sni']),
           ('blocked', 'block', 'outside-allowed-time', 'facebook', 'www.facebook.com'), 'blocked-sni row')
        eq(row['bytes_down'] < 200, True, 'bytes sent to the client of a blocked tunnel (%d): only the 200 line' % row['bytes_down'])
    eq(sorted({x['host'] for x in rows}), ['127.0.0.1', 'www.example.org'], 'CONNECT hosts of the blocked-sni rows')


if __name__ == '__main__':
    run(globals())
