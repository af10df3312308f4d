#!/usr/bin/env python3
"""Signals and config checking: -t exit codes with file:line errors; SIGHUP
applies a good config to new connections without dropping old ones,
names the changed keys only a restart applies, and refuses a bad one (old
config keeps serving); SIGTERM/SIGINT stop accepting
and let in-flight requests finish within shutdown_grace."""

import re
import signal
import socket
import threading
import time

from harness import (Raw, Response, check, check_config, curl, eq, free_port, payload, run, short, wait_for,
                     check_payload)


def connect_status(port, target):
    c = Raw(port)
    c.send(('CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (target, target)).encode())
    r = Response(c.rd.read_until(b'\r\n\r\n'))
    return c, r.status


def test_check_mode_good_config(t):
    p = t.proxy(start=False)
    rc, err, path = check_config(p.conf_text())
    eq(rc, 0, 'breaktimed -t on a good config (stderr: %s)' % err[-500:])
    rc, err, path = check_config('[proxy]\nlisten = 127.0.0.1:0\n[store]\ndatabase = %s/x.db\n' % t.tmp)
    eq(rc, 0, 'breaktimed -t on a minimal config (stderr: %s)' % err[-500:])


def test_check_mode_bad_configs(t):
    cases = [
        ('[proxy]\nlisten = 127.0.0.1:0\nworkers = lots\n', 3, 'workers'),
        ('[proxy]\nlisten = 127.0.0.1:0\n\nheader_timout = 1s\n', 4, 'header_timout'),
        ('[proxy]\nlisten = nowhere\n', 2, 'listen'),
        ('[proxy]\nconnect_ports = 443, 70000\n', 2, 'connect_ports'),
        ('[proxy]\nallow_clients = 10.0.0.0/99\n', 2, 'allow_clients'),
        ('[proxy]\nallow_loopback_upstream = maybe\n', 2, 'allow_loopback_upstream'),
        ('[proxy]\nidle_timeout = soon\n', 2, 'idle_timeout'),
    ]
    for text, line, word in cases:
        rc, err, path = check_config(text, 'bad.conf')
        eq(rc, 1, 'breaktimed -t exit code for a bad %s' % word)
        check(re.search(r'bad\.conf:%d:' % line, err), 'no "bad.conf:%d:" in stderr for a bad %s: %r' % (line, word, err[-400:]))
        check(word in err, 'the message does not name %s: %r' % (word, err[-400:]))
    # a missing file is an error too
    import subprocess
    from harness import BREAKTIMED, clean_env
    q = subprocess.run([BREAKTIMED, '-t', '-c', t.tmp + '/does-not-exist.conf'], capture_output=True, timeout=10, env=clean_env())
    eq(q.returncode, 1, 'breaktimed -t on a missing file')


def test_check_mode_does_not_listen(t):
    port = free_port()
    blocker = socket.socket()
    blocker.bind(('127.0.0.1', port))
    blocker.listen(1)
    try:
        rc, err, _ = check_config('[proxy]\nlisten = 127.0.0.1:%d\n' % port)
        eq(rc, 0, 'breaktimed -t with the listen port in use (it must only check): %s' % err[-300:])
    finally:
        blocker.close()


def test_sighup_applies_new_config(t):
    a = t.tcp_origin('echo')
    b = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(a.port)})
    c, st = connect_status(p.port, '127.0.0.1:%d' % b.port)
    eq(st, 403, 'port B before reload')
    c.close()
    held, st = connect_status(p.port, '127.0.0.1:%d' % a.port)
    eq(st, 200, 'port A before reload')
    p.conf['connect_ports'] = str(b.port)
    p.write_conf()
    p.send_signal(signal.SIGHUP)

    def b_allowed():
        c, st = connect_status(p.port, '127.0.0.1:%d' % b.port)
        c.close()
        return st == 200
    wait_for(b_allowed, 3, step=0.1, what='port B to be allowed after SIGHUP')
    c, st = connect_status(p.port, '127.0.0.1:%d' % a.port)
    eq(st, 403, 'port A after reload')
    c.close()
    # the tunnel opened before the reload still works
    held.send(b'still-here')
    eq(held.read_exact(10), b'still-here', 'tunnel opened before the reload')
    held.close()
    check(p.alive(), 'proxy died on reload')


def test_sighup_keeps_inflight_download(t):
    p = t.proxy()
    res = {}

    def get():
        res['r'] = curl(p, t.origin.url('/slow/400000?parts=8&delay=0.15'))
    th = threading.Thread(target=get)
    th.start()
    time.sleep(0.4)
    p.conf['idle_timeout'] = '4s'
    p.write_conf()
    p.send_signal(signal.SIGHUP)
    th.join(15)
    r = res['r']
    eq((r.rc, r.code), (0, 200), 'download across a reload (%r)' % r)
    eq(check_payload(r.body), -1, 'first corrupted byte')
    eq(len(r.body), 400000, 'body length')
    r = curl(p, t.origin.url('/size/10'))
    eq(r.code, 200, 'new request after the reload')


def test_sighup_keeps_idle_keepalive_connections(t):
    p = t.proxy({'idle_timeout': '10s'})
    conns = []
    for i in range(4):
        c = Raw(p.port)
        c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.url('/size/%d' % (10 + i)), t.origin.authority)).encode())
        eq(c.response().body, payload(10 + i), 'response before the reload')
        conns.append(c)
    p.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    for i, c in enumerate(conns):
        c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.url('/size/%d' % (20 + i)), t.origin.authority)).encode())
        eq(c.response().body, payload(20 + i), 'keep-alive connection %d after the reload' % i)
        c.close()


def test_sighup_bad_config_refused(t):
    a = t.tcp_origin('echo')
    b = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(a.port)})
    good = p.conf_text()
    bad = good.replace('connect_ports = %d' % a.port, 'connect_ports = %d\nworkers = many' % b.port)
    check(bad != good, 'test setup')
    line = bad.splitlines().index('workers = many') + 1
    p.write_conf(bad)
    mark = len(p.log())
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: re.search(r'breaktime\.conf:%d:' % line, p.log()[mark:]), 3,
             what='"breaktime.conf:%d:" in the log after a bad reload' % line)
    time.sleep(0.3)
    check(p.alive(), 'the proxy died on a bad config')
    c, st = connect_status(p.port, '127.0.0.1:%d' % a.port)
    eq(st, 200, 'old config still serving: port A')
    c.close()
    c, st = connect_status(p.port, '127.0.0.1:%d' % b.port)
    eq(st, 403, 'half of the bad config applied: port B')
    c.close()
    r = curl(p, t.origin.url('/size/10'))
    eq(r.code, 200, 'requests still served after a refused reload')
    # and a good config after a bad one is applied
    p.write_conf(good.replace('connect_ports = %d' % a.port, 'connect_ports = %d' % b.port))
    p.send_signal(signal.SIGHUP)

    def b_allowed():
        c, st = connect_status(p.port, '127.0.0.1:%d' % b.port)
        c.close()
        return st == 200
    wait_for(b_allowed, 3, step=0.1, what='the next good config to apply')


RESTART_LINE = 'reload: %s changed; takes effect at the next restart'


def test_sighup_names_keys_that_need_a_restart(t):
    # keys read only at start (binding, resolvers, privileges, the store) are
    # named in the log on reload, one line each; a key that applies at once
    # (connect_ports) is not named and applies
    import os
    a = t.tcp_origin('echo')
    b = t.tcp_origin('echo')
    p = t.proxy({'connect_ports': str(a.port)}, extra_conf='[site]\ntimezone = Europe/London\n')
    start_text = p.conf_text()
    restart_keys = ['[proxy] listen', '[proxy] intercept_listen', '[proxy] workers',
                    '[proxy] dns_servers', '[proxy] user', '[store] database', '[store] retention',
                    '[store] access_log']
    new_db = os.path.join(p.dir, 'elsewhere.db')
    p.conf.update({'connect_ports': str(b.port), 'listen': '127.0.0.1:%d' % free_port(), 'workers': '1',
                   'intercept_listen': '127.0.0.1:%d' % free_port(), 'dns_servers': '127.0.0.1:%d' % free_port(),
                   'user': 'nobody'})
    p.store.update({'database': new_db, 'retention': '30d', 'access_log': os.path.join(p.dir, 'access.log')})
    p.extra_conf = '[site]\ntimezone = UTC\n'
    p.write_conf()
    mark = len(p.log())
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: 'configuration reloaded' in p.log()[mark:], 5, what='the reload')
    log = p.log()[mark:]
    for key in restart_keys:
        eq(log.count(RESTART_LINE % key), 1, 'lines naming %s in:\n%s' % (key, log))
    check(re.search(r'reload: \[site\] timezone changed; schedules use UTC now, the store counts days '
                    r'and minutes \(usage, allowances\) in Europe/London until the next restart', log),
          'no line for the time zone in:\n%s' % log)
    for key in ('connect_ports', '[proxy] hosts_file', '[store] log_other', '[store] queue'):
        check(key not in log, '%s named after the reload:\n%s' % (key, log))
    # what applies, applies; what needs a restart, waits for it
    c, st = connect_status(p.port, '127.0.0.1:%d' % b.port)
    eq(st, 200, 'port B after the reload (connect_ports applies at once)')
    c.close()
    c, st = connect_status(p.port, '127.0.0.1:%d' % a.port)
    eq(st, 403, 'port A after the reload')
    c.close()
    r = curl(p, t.origin.url('/size/10'))
    eq(r.code, 200, 'a request after the reload, on the listener it started with')
    wait_for(lambda: p.rows('SELECT * FROM other_daily'), 5, what='the request counted in the first database')
    check(not os.path.exists(new_db), 'the store moved to the new database without a restart')
    # named again on the next reload (still not applied), not at all once the file is back
    mark = len(p.log())
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: 'configuration reloaded' in p.log()[mark:], 5, what='the second reload')
    eq(p.log()[mark:].count(RESTART_LINE % '[store] database'), 1, 'database named on the second reload')
    p.write_conf(start_text)
    mark = len(p.log())
    p.send_signal(signal.SIGHUP)
    wait_for(lambda: 'configuration reloaded' in p.log()[mark:], 5, what='the third reload')
    check('reload: ' not in p.log()[mark:], 'keys named with the starting file back:\n%s' % p.log()[mark:])
    c, st = connect_status(p.port, '127.0.0.1:%d' % a.port)
    eq(st, 200, 'port A with the starting file back')
    c.close()


def test_sighup_rereads_hosts_file(t):
    import os
    hosts = os.path.join(t.tmp, 'hosts-reload')
    with open(hosts, 'w') as f:
        f.write('127.0.0.2 moved.test\n')
    p = t.proxy({'hosts_file': hosts})
    r = curl(p, 'http://moved.test:%d/size/5' % t.origin.port)
    eq(r.code, 502, 'moved.test -> 127.0.0.2, where the origin does not listen (%r)' % r)
    with open(hosts, 'w') as f:
        f.write('127.0.0.1 moved.test\n')
    p.send_signal(signal.SIGHUP)

    def moved():
        return curl(p, 'http://moved.test:%d/size/5' % t.origin.port).code == 200
    wait_for(moved, 3, step=0.2, what='the edited hosts_file to apply after SIGHUP')
    # every worker (2) re-read it: new connections land on either
    codes = [curl(p, 'http://moved.test:%d/size/5' % t.origin.port).code for _ in range(10)]
    eq(codes, [200] * 10, 'moved.test on every worker after SIGHUP')
    check('moved.test' not in t.dns.names(), 'a hosts_file name was asked of DNS')


def test_sighup_reads_hosts_file_off_the_workers(t):
    # the hosts file is read once per reload by the main thread, never on a
    # worker's event loop: a hosts_file that does not answer (here a FIFO
    # nobody writes to yet, as a hung network file system would) holds up the
    # reload, not the requests
    import os
    fifo = os.path.join(t.tmp, 'hosts-fifo')
    os.mkfifo(fifo)
    p = t.proxy()
    eq(curl(p, 'http://slow.test:%d/size/5' % t.origin.port).code, 502, 'slow.test before the reload')
    asked = t.dns.names().count('slow.test')
    p.conf['hosts_file'] = fifo
    p.write_conf()
    mark = len(p.log())
    p.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    t0 = time.monotonic()
    codes = [curl(p, t.origin.url('/size/%d' % (10 + i)), timeout=5).code for i in range(6)]
    el = time.monotonic() - t0
    eq(codes, [200] * 6, 'requests on both workers while the hosts file is being read')
    check(el < 3, '6 requests took %.1fs while the hosts file was being read' % el)
    check('configuration reloaded' not in p.log()[mark:], 'the reload finished without the hosts file')
    fd = os.open(fifo, os.O_WRONLY)
    os.write(fd, b'127.0.0.1 slow.test\n')
    os.close(fd)
    wait_for(lambda: 'configuration reloaded' in p.log()[mark:], 5, what='the reload to finish')
    codes = [curl(p, 'http://slow.test:%d/size/5' % t.origin.port).code for _ in range(6)]
    eq(codes, [200] * 6, 'slow.test on every worker after the reload')
    eq(t.dns.names().count('slow.test'), asked, 'DNS questions for a hosts_file name after the reload')


def test_sighup_hosts_file_change_skips_pooled_connections(t):
    # a name moved to another address: an idle pooled connection to the old
    # address is not reused for it after the reload
    import os
    from harness import Origin
    for attempt in range(20):
        # the same port on two addresses: retry when 127.0.0.1 has it in use
        new = Origin('127.0.0.2')
        t.defer(new.stop)
        try:
            old = Origin('127.0.0.1', port=new.port)
            break
        except OSError:
            continue
    t.defer(old.stop)
    hosts = os.path.join(t.tmp, 'hosts-pool')
    with open(hosts, 'w') as f:
        f.write('127.0.0.1 pooled.test\n')
    p = t.proxy({'hosts_file': hosts, 'workers': '1', 'pool_idle_timeout': '60s'})
    url = 'http://pooled.test:%d/conn' % new.port
    eq(curl(p, url).code, 200, 'pooled.test -> 127.0.0.1')
    eq(curl(p, url).code, 200, 'again (pooled)')
    eq((len(old.requests), old.conn_count), (2, 1), 'requests and connections at the old address')
    with open(hosts, 'w') as f:
        f.write('127.0.0.2 pooled.test\n')
    p.send_signal(signal.SIGHUP)

    def moved():
        curl(p, url)
        return len(new.requests) > 0
    wait_for(moved, 3, step=0.2, what='a request to the new address after SIGHUP')
    n_old = len(old.requests)
    eq(curl(p, url).code, 200, 'after the reload')
    eq(len(old.requests), n_old, 'the old address got requests after the reload')


def test_sigterm_graceful_inflight(t):
    p = t.proxy({'shutdown_grace': '5s'})
    res = {}

    def get():
        res['r'] = curl(p, t.origin.url('/slow/300000?parts=10&delay=0.15'))
    th = threading.Thread(target=get)
    th.start()
    time.sleep(0.4)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)

    def refused():
        try:
            s = socket.create_connection(('127.0.0.1', p.port), 0.5)
            s.close()
            return False
        except OSError:
            return True
    wait_for(refused, 1.5, what='the listener to close after SIGTERM')
    th.join(15)
    r = res['r']
    eq((r.rc, r.code, len(r.body)), (0, 200, 300000), 'in-flight download completes after SIGTERM (%r)' % r)
    eq(check_payload(r.body), -1, 'first corrupted byte')
    rc = p.wait_exit(6)
    eq(rc, 0, 'exit code after SIGTERM')
    check(time.monotonic() - t0 < 5, 'exit took %.1fs' % (time.monotonic() - t0))


def test_sigint_idle_stops_promptly(t):
    p = t.proxy({'shutdown_grace': '5s'})
    c = Raw(p.port)  # an idle keep-alive client does not hold the shutdown
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.url('/size/3'), t.origin.authority)).encode())
    eq(c.response().body, payload(3), 'response')
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    rc = p.wait_exit(4)
    eq(rc, 0, 'exit code after SIGINT')
    check(time.monotonic() - t0 < 2, 'exit with only idle clients took %.1fs' % (time.monotonic() - t0))
    check(c.closed_within(1), 'idle client connection left open')
    c.close()


def test_sigterm_grace_is_bounded(t):
    p = t.proxy({'shutdown_grace': '1s', 'upstream_timeout': '30s'})
    c = Raw(p.port, timeout=10)
    c.send(('GET %s HTTP/1.1\r\nHost: %s\r\n\r\n' % (t.origin.url('/hang'), t.origin.authority)).encode())
    time.sleep(0.3)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    rc = p.wait_exit(6)
    el = time.monotonic() - t0
    check(rc is not None, 'still running 6 s after SIGTERM with shutdown_grace 1s')
    check(el < 3.5, 'exit took %.1fs with shutdown_grace 1s' % el)
    check(c.closed_within(1), 'the client of the cut request was not disconnected')
    c.close()


if __name__ == '__main__':
    run(globals())
