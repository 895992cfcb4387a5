# A real SMTP server for the alert tests: Debian's aiosmtpd on 127.0.0.1, optionally with STARTTLS
# or implicit TLS (certificate made by the test) and AUTH. Each accepted message is written to DIR as
# NNN.eml (raw, as received) and NNN.json (subject decoded, Message-ID, text and HTML parts).
# The file DIR/mode, read at each DATA, makes it answer: accept (default), tempfail (451) or
# reject (554). The bound port is written to DIR/port once listening.
import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--dir", required=True)
p.add_argument("--tls", default="none", choices=["none", "starttls", "implicit"])
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user")
p.add_argument("--password")
p.add_argument("--port", type=int, default=0)
a = p.parse_args()


def mode():
    try:
        with open(os.path.join(a.dir, "mode")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return "accept"


class Handler:
    def __init__(self):
        self.n = 0

    async def handle_DATA(self, server, session, envelope):
        m = mode()
        if m == "tempfail":
            return "451 4.3.0 Try again later"
        if m == "reject":
            return "554 5.6.0 Message refused"
        self.n += 1
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        summary = {
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")),
            "key": str(msg.get("X-Vigie-Key", "")),
            "from": str(msg.get("From", "")),
            "to": str(msg.get("To", "")),
            "rcpt": list(envelope.rcpt_tos),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else None,
            "tls": session.ssl is not None or a.tls == "implicit",
            "authenticated": bool(session.authenticated),
        }
        stem = os.path.join(a.dir, "%020d-%05d" % (time.time_ns(), self.n))
        for ext, data in ((".eml", raw), (".json", json.dumps(summary).encode())):
            tmp = stem + ext + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, stem + ext)
        return "250 2.0.0 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == a.user.encode()
        and auth_data.password == a.password.encode()
    )
    return AuthResult(success=ok)


ctx = None
if a.tls != "none":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
handler = Handler()


def factory():
    kw = {}
    if a.user:
        kw.update(
            authenticator=authenticator,
            auth_required=True,
            auth_require_tls=(a.tls == "starttls"),
        )
    if a.tls == "starttls":
        kw.update(tls_context=ctx, require_starttls=True)
    return SMTP(handler, **kw)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        factory, "127.0.0.1", a.port, ssl=ctx if a.tls == "implicit" else None
    )
    port = server.sockets[0].getsockname()[1]
    tmp = os.path.join(a.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write(str(port))
    os.rename(tmp, os.path.join(a.dir, "port"))
    await server.serve_forever()


asyncio.run(main())
