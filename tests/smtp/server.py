#!/usr/bin/env python3
"""A real SMTP server for the mail tests (aiosmtpd from PyPI).

Every accepted message is written to SPOOL as NNNNNN.eml (the raw message as received, with a
first line `X-Envelope-To: addr`), atomically. Addresses steer the answers, like a real
server's would:

- local part starting with `grau`: 451 (temporary failure) to the first TEMPFAILS deliveries
  to that address, then accepted;
- local part starting with `abgelehnt`: 550 at RCPT TO (mailbox unavailable, permanent);
- everything else: accepted.

With --auth USER:PASSWORD the server requires AUTH (PLAIN/LOGIN, allowed without TLS on this
loopback test server). Prints `READY <port>` once it listens; stops on SIGTERM.
"""

import argparse
import asyncio
import os
import signal
import socket
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, spool, tempfails):
        self.spool = spool
        self.tempfails = tempfails
        self.failures = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("abgelehnt"):
            return "550 5.1.1 <%s>: Recipient address rejected: mailbox unavailable" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            local = rcpt.split("@", 1)[0].lower()
            if local.startswith("grau"):
                with self.lock:
                    n = self.failures.get(rcpt, 0)
                    if n < self.tempfails:
                        self.failures[rcpt] = n + 1
                        return "451 4.7.1 Greylisted, please try again later"
        with self.lock:
            self.count += 1
            n = self.count
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        header = ("X-Envelope-To: %s\r\n" % ",".join(envelope.rcpt_tos)).encode()
        tmp = os.path.join(self.spool, ".%06d.tmp" % n)
        with open(tmp, "wb") as f:
            f.write(header + data)
        os.rename(tmp, os.path.join(self.spool, "%06d.eml" % n))
        return "250 2.0.0 Ok: queued as %06d" % n


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("spool")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tempfails", type=int, default=2)
    p.add_argument("--auth", default=None, help="USER:PASSWORD required")
    a = p.parse_args()
    os.makedirs(a.spool, exist_ok=True)
    port = a.port or free_port()
    kwargs = {}
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            return AuthResult(success=ok)

        kwargs.update(
            authenticator=authenticator, auth_required=True, auth_require_tls=False
        )
    controller = Controller(
        Handler(a.spool, a.tempfails),
        hostname="127.0.0.1",
        port=port,
        ready_timeout=10,
        **kwargs,
    )
    controller.start()
    print("READY %d" % port, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
