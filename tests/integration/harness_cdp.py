"""
harness_cdp: headless Chromium driven through the DevTools protocol on a
pipe (--remote-debugging-pipe: commands on the browser's fd 3, answers and
events on its fd 4, each a JSON text ended by a NUL). No WebSocket, no
chromedriver: the test reads real navigation timings (the Performance API)
and the protocol a page came over (nextHopProtocol) from the page itself.

    with Cdp(prefix, exe, args, env, log) as b:
        b.navigate('https://site.test/')            # waits for the load event
        b.evaluate('document.title')

prefix is what runs the browser (e.g. ['ip', 'netns', 'exec', NS]); its
output goes to the file log; it is ended by its PID (Browser.close first,
then SIGTERM).
"""

import json
import os
import select
import shutil
import subprocess
import time

from harness_run import TestFailure, TestSkip

BASE_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions',
              '--no-default-browser-check']


def chromium_exe():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        p = shutil.which(name)
        if p:
            return p
    raise TestSkip('chromium is not installed (tools/deps.sh TEST_PACKAGES installs it)')


class Cdp:
    def __init__(self, prefix, exe, args, env, log, timeout=20):
        self.log = log
        self._log = open(log, 'wb')
        to_r, self._w = os.pipe()       # our commands: the browser's fd 3
        self._r, from_w = os.pipe()     # its answers and events: its fd 4
        # bash: dash reads only one-digit descriptors in redirections
        shell = 'exec "$0" "$@" 3<&%d 4>&%d %d<&- %d>&-' % (to_r, from_w, to_r, from_w)
        self.proc = subprocess.Popen(list(prefix) + ['bash', '-c', shell, exe, '--remote-debugging-pipe'] + list(args),
                                     pass_fds=(to_r, from_w), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env)
        os.close(to_r)
        os.close(from_w)
        self.timeout = timeout
        self._buf = b''
        self._id = 0
        self.events = []
        self.session = None
        target = self.call('Target.createTarget', {'url': 'about:blank'})['targetId']
        self.session = self.call('Target.attachToTarget', {'targetId': target, 'flatten': True})['sessionId']
        self.call('Page.enable')
        self.call('Runtime.enable')

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read_one(self, deadline):
        while b'\0' not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TestFailure('Chromium did not answer within %ds' % self.timeout)
            d = os.read(self._r, 1 << 16)
            if not d:
                with open(self.log, errors='replace') as f:
                    raise TestFailure('Chromium closed its DevTools pipe: %s' % f.read()[-1500:])
            self._buf += d
        msg, _, self._buf = self._buf.partition(b'\0')
        return json.loads(msg)

    def call(self, method, params=None, timeout=None):
        """A command to the page's session (or the browser before there is one); its result."""
        self._id += 1
        msg = {'id': self._id, 'method': method, 'params': params or {}}
        if self.session and not method.startswith(('Target.', 'Browser.')):
            msg['sessionId'] = self.session
        os.write(self._w, json.dumps(msg).encode() + b'\0')
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            m = self._read_one(deadline)
            if m.get('id') == self._id:
                if 'error' in m:
                    raise TestFailure('%s: %s' % (method, m['error']))
                return m.get('result', {})
            if 'method' in m:
                self.events.append(m)

    def wait_event(self, method, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, e in enumerate(self.events):
                if e['method'] == method:
                    return self.events.pop(i)
            self.events.append(self._read_one(deadline))

    def navigate(self, url, timeout=None):
        """Go to url and wait for its load event; the seconds that took by the test's clock."""
        self.events = [e for e in self.events if e['method'] != 'Page.loadEventFired']
        t0 = time.monotonic()
        r = self.call('Page.navigate', {'url': url})
        if r.get('errorText'):
            raise TestFailure('navigating to %s: %s' % (url, r['errorText']))
        self.wait_event('Page.loadEventFired', timeout)
        return time.monotonic() - t0

    def navigate_error(self, url, timeout=None):
        """Go to url; the network error Chromium gave (e.g. net::ERR_CONNECTION_CLOSED), None when it loaded."""
        self.events = [e for e in self.events if e['method'] != 'Page.loadEventFired']
        r = self.call('Page.navigate', {'url': url})
        if r.get('errorText'):
            return r['errorText']
        self.wait_event('Page.loadEventFired', timeout)
        return None

    def run_and_wait_load(self, expression, timeout=None):
        """Evaluate expression (that navigates: a form submitted, a link followed) and wait for the load."""
        self.events = [e for e in self.events if e['method'] != 'Page.loadEventFired']
        self.evaluate(expression)
        self.wait_event('Page.loadEventFired', timeout)

    def evaluate(self, expression):
        r = self.call('Runtime.evaluate', {'expression': expression, 'returnByValue': True})
        if 'exceptionDetails' in r:
            raise TestFailure('%s: %s' % (expression, r['exceptionDetails']))
        return r['result'].get('value')

    def close(self):
        if self.proc.poll() is None:
            try:
                self.session = None
                os.write(self._w, json.dumps({'id': self._id + 1, 'method': 'Browser.close'}).encode() + b'\0')
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
        for fd in (self._r, self._w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
