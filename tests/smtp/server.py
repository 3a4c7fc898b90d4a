"""A real SMTP server for canvass's end-to-end tests (aiosmtpd on 127.0.0.1).

It writes every accepted message to a folder (one .eml file each, the envelope recipient
in an `X-Envelope-To` header on top) and can misbehave for chosen recipients:

  --temp ADDR   answer `451` to RCPT TO the first two times, then accept
  --perm ADDR   answer `550 5.1.1 <ADDR>: Recipient address rejected` to RCPT TO, always
                (quoting the address, as Postfix does)
  --drop ADDR   close the connection in DATA (no reply) the first time, then accept
  --store-drop ADDR   store the message, then close the connection before replying
  --late ADDR   store the message, then reply only after --late-by seconds (default 3)
  --stall-after N   once N messages are stored, never answer RCPT TO again

It prints the port it listens on, then serves until killed.
"""

import argparse
import asyncio
import collections
import os
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, folder, temp, perm, drop, store_drop, late, late_by, stall_after):
        self.folder = folder
        self.temp = set(a.lower() for a in temp)
        self.perm = set(a.lower() for a in perm)
        self.drop = set(a.lower() for a in drop)
        self.store_drop = set(a.lower() for a in store_drop)
        self.late = set(a.lower() for a in late)
        self.late_by = late_by
        self.stall_after = stall_after
        self.tries = collections.Counter()
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        key = address.lower()
        if self.stall_after is not None and self.count >= self.stall_after:
            await asyncio.sleep(3600)
        if key in self.perm:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        if key in self.temp:
            self.tries[("temp", key)] += 1
            if self.tries[("temp", key)] <= 2:
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            key = address.lower()
            if key in self.drop:
                self.tries[("drop", key)] += 1
                if self.tries[("drop", key)] == 1:
                    server.transport.abort()
                    return "421 closing"
        self.count += 1
        name = "%08d-%d.eml" % (self.count, os.getpid())
        path = os.path.join(self.folder, name)
        header = "".join("X-Envelope-To: %s\r\n" % a for a in envelope.rcpt_tos)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        with open(path + ".tmp", "wb") as f:
            f.write(header.encode("ascii") + content)
        os.replace(path + ".tmp", path)
        if any(a.lower() in self.store_drop for a in envelope.rcpt_tos):
            server.transport.abort()
            return "421 closing"
        if any(a.lower() in self.late for a in envelope.rcpt_tos):
            await asyncio.sleep(self.late_by)
        return "250 2.0.0 Queued as %d" % self.count


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--temp", action="append", default=[])
    parser.add_argument("--perm", action="append", default=[])
    parser.add_argument("--drop", action="append", default=[])
    parser.add_argument("--store-drop", action="append", default=[])
    parser.add_argument("--late", action="append", default=[])
    parser.add_argument("--late-by", type=float, default=3.0)
    parser.add_argument("--stall-after", type=int)
    args = parser.parse_args()
    os.makedirs(args.folder, exist_ok=True)
    handler = Handler(
        args.folder,
        args.temp,
        args.perm,
        args.drop,
        args.store_drop,
        args.late,
        args.late_by,
        args.stall_after,
    )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, decode_data=False, enable_SMTPUTF8=True, data_size_limit=None),
        "127.0.0.1",
        0,
    )
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
