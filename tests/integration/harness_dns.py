"""
harness_dns: the DNS server the daemon's configurations name (dns_servers),
so no lookup reaches the machine's resolver.

Starts DnsServer: UDP on 127.0.0.1, A/AAAA from a dict, NXDOMAIN for every
other name, no answer at all for the names in silent (to test timeouts);
counts the queries. Cleans up: stop() closes its socket (its thread is a
daemon thread); Harness stops it at the end.
"""

import socket
import struct
import threading

from harness_run import LOOPBACK

class DnsServer:
    """Answers A/AAAA for names in .records ({name: [addr, ...]}), NXDOMAIN for
    the rest; names in .silent get no answer at all. Counts queries."""

    def __init__(self, records=None, silent=()):
        self.records = {k.lower().rstrip('.'): v for k, v in (records or {}).items()}
        self.silent = set(silent)
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]
        self.closing = False
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self):
        self.closing = True
        self.sock.close()

    def names(self):
        return [q[0] for q in self.queries]

    def _loop(self):
        while not self.closing:
            try:
                pkt, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                resp = self._answer(pkt)
            except Exception:
                resp = None
            if resp:
                try:
                    self.sock.sendto(resp, peer)
                except OSError:
                    pass

    def _answer(self, pkt):
        qid, flags, qd, an, ns, ar = struct.unpack('!HHHHHH', pkt[:12])
        pos = 12
        labels = []
        while True:
            ln = pkt[pos]
            pos += 1
            if ln == 0:
                break
            labels.append(pkt[pos:pos + ln].decode('latin-1'))
            pos += ln
        qtype, qclass = struct.unpack('!HH', pkt[pos:pos + 4])
        question = pkt[12:pos + 4]
        name = '.'.join(labels).lower()
        self.queries.append((name, qtype))
        if name in self.silent:
            return None
        rd = flags & 0x0100
        answers = []
        rcode = 3
        if name in self.records:
            rcode = 0
            for addr in self.records[name]:
                if qtype == 1 and ':' not in addr:
                    answers.append(struct.pack('!HHHIH', 0xC00C, 1, 1, 5, 4) + socket.inet_pton(socket.AF_INET, addr))
                elif qtype == 28 and ':' in addr:
                    answers.append(struct.pack('!HHHIH', 0xC00C, 28, 1, 5, 16) + socket.inet_pton(socket.AF_INET6, addr))
        hdr = struct.pack('!HHHHHH', qid, 0x8000 | 0x0080 | rd | rcode, 1, len(answers), 0, 0)
        return hdr + question + b''.join(answers)
