#!/usr/bin/env python3
"""
Block pages over HTTPS (block_ca): an answer after which the terminated
connection closes (the request said Connection: close or was HTTP/1.0, or
it followed the interstitial's Continue link, which always closes) reaches
the client whole before the close. The TLS records of such an answer sit
below the TLS filter, in the socket's own buffer, when the filter's output
is empty; closing then dropped them and the client saw an empty reply.

The CA is made with openssl as `breaktime ca create` makes it (ECDSA P-256,
CA:TRUE and keyUsage critical, critical nameConstraints); the clients are
curl (verifying with that CA only) and Python's ssl module. Names resolve
through the daemon's hosts file (127.0.0.1); nothing leaves loopback.
"""
import os
import re
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import check, curl, eq, need, run, wait_for  # noqa: E402

# students present at every hour, everyone staff: Instagram is blocked now
BLOCK_POLICY = '''
[site]
timezone = Europe/London
[schedule]
students = mon-sun 00:00-24:00
[auth]
default_group = staff
'''

WARN_POLICY = '''
[site]
timezone = Europe/London
[auth]
default_group = guests
devices = %s
[group warned]
members = wendy
social = always
allowance = 0m
over_allowance = warn
'''

PAGE_TEXT = 'instagram is not available right now'


def the_ca(kit):
    if not hasattr(kit, 'flush_ca'):
        need('openssl')
        d = os.path.join(kit.tmp, 'flush-ca')
        os.mkdir(d)
        cnf = os.path.join(d, 'ca.cnf')
        with open(cnf, 'w') as f:
            f.write('[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n'
                    '[dn]\nCN = breaktime test block CA\n'
                    '[v3]\nbasicConstraints = critical,CA:TRUE,pathlen:0\n'
                    'keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n'
                    'nameConstraints = critical,permitted;DNS:instagram.com,permitted;DNS:cdninstagram.com,'
                    'excluded;IP:0.0.0.0/0.0.0.0,excluded;IP:::/::\n')
        cert, key = os.path.join(d, 'ca.pem'), os.path.join(d, 'ca.key')
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
                        '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-config', cnf],
                       check=True, capture_output=True, timeout=30)
        os.chmod(key, 0o600)
        kit.flush_ca = (cert, key)
    return kit.flush_ca


def ca_conf(kit, **extra):
    cert, key = the_ca(kit)
    conf = {'block_ca': cert, 'block_ca_key': key}
    conf.update(extra)
    return conf


def metric(kit, d, name):
    r = curl(kit, 'http://127.0.0.1:%d/metrics' % d.port)
    m = re.search(r'^%s (\d+)$' % re.escape(name), r.body, re.M)
    return int(m.group(1)) if m else None


def tls_get(d, cafile, request):
    """CONNECT www.instagram.com:443, a verified TLS handshake, one request;
    everything until the server closes: (bytes, how it ended)."""
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    s.sendall(b'CONNECT www.instagram.com:443 HTTP/1.1\r\nHost: www.instagram.com:443\r\n\r\n')
    head = b''
    while b'\r\n\r\n' not in head:
        b = s.recv(4096)
        check(b, 'the proxy closed before answering the CONNECT: %r' % head)
        head += b
    eq(head.split(b'\r\n')[0], b'HTTP/1.1 200 Connection established', 'the CONNECT of a blocked flow')
    ctx = ssl.create_default_context(cafile=cafile)
    t = ctx.wrap_socket(s, server_hostname='www.instagram.com')
    t.sendall(request)
    got, end = b'', 'eof'
    while True:
        try:
            b = t.recv(16384)
        except ssl.SSLEOFError:
            end = 'eof without close_notify'
            break
        except OSError as e:
            end = '%s: %s' % (type(e).__name__, e)
            break
        if not b:
            break
        got += b
    t.close()
    return got, end


def test_block_page_then_close_reaches_the_client(kit):
    cert, _ = the_ca(kit)
    d = kit.daemon(BLOCK_POLICY, proxy=ca_conf(kit))
    px = ('-x', 'http://127.0.0.1:%d' % d.port, '--cacert', cert)
    # the keep-alive page, as before
    r = curl(kit, *px, 'https://www.instagram.com/')
    eq(r.code, 403, 'the block page over TLS, keep-alive: %r' % r)
    # the request asks to close: the page, then the close
    r = curl(kit, *px, '-H', 'Connection: close', 'https://www.instagram.com/feed')
    eq((r.rc, r.code), (0, 403), 'the block page over TLS with Connection: close: %r' % r)
    check(PAGE_TEXT in r.body, 'the whole page with Connection: close:\n%s' % r.body[:1500])
    eq((r.header('Connection') or '').lower(), 'close', 'the page says the connection closes')
    r = curl(kit, *px, '--http1.0', 'https://www.instagram.com/')
    eq((r.rc, r.code), (0, 403), 'the block page over TLS to an HTTP/1.0 request: %r' % r)
    check(PAGE_TEXT in r.body, 'the whole page for HTTP/1.0:\n%s' % r.body[:1500])
    # byte for byte: the announced length arrives, then the end
    got, end = tls_get(d, cert, b'GET / HTTP/1.1\r\nHost: www.instagram.com\r\nConnection: close\r\n\r\n')
    check(got.startswith(b'HTTP/1.1 403 '), 'a 403 before the close (%s): %r' % (end, got[:200]))
    head, _, body = got.partition(b'\r\n\r\n')
    m = re.search(rb'\r\nContent-Length: *(\d+)', head, re.I)
    check(m and int(m.group(1)) == len(body), 'the whole body (%s): %r' % (end, head))
    wait_for(lambda: len(d.events(kind='blocked', host='www.instagram.com', close='blocked-page-tls')) == 4, 5,
             what='a row for each of the four pages')
    eq(metric(kit, d, 'breaktime_tls_pages_total{verdict="block"}'), 4, 'four pages over TLS')


def test_continue_answer_reaches_the_client(kit):
    cert, _ = the_ca(kit)
    devices = kit.write('flush-devices', '127.0.0.3 wendy\n')
    d = kit.daemon(WARN_POLICY % devices, proxy=ca_conf(kit, connect_ports='443, %d' % kit.tls.port))
    url = 'https://www.instagram.com:%d/feed' % kit.tls.port
    px = ('-x', 'http://127.0.0.1:%d' % d.port, '--interface', '127.0.0.3', '--cacert', cert)
    r = curl(kit, *px, url)
    eq(r.code, 403, 'the interstitial over TLS: %r' % r)
    m = re.search(r'href="(/\.well-known/breaktime/continue\?[^"]+)"', r.body)
    check(m, 'a same-origin Continue link on the interstitial:\n%s' % r.body[:2000])
    link = 'https://www.instagram.com:%d%s' % (kit.tls.port, m.group(1).replace('&amp;', '&'))
    # Continue always closes the terminated connection: its answer must arrive first
    r = curl(kit, *px, link)
    eq((r.rc, r.code), (0, 302), 'following Continue: %r' % r)
    eq(r.header('Location'), url, 'back to the page')
    wait_for(lambda: [x for x in d.events(user='wendy') if x['reason'] == 'warn-continued'], 5,
             what='the warn-continued row')


if __name__ == '__main__':
    run(globals())
