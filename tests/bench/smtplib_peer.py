"""The baseline of the send benchmark: Python's smtplib sending the same messages over
one connection. Usage: smtplib_peer.py PORT FOLDER_OF_EML_FILES; prints messages per second."""

import email
import os
import smtplib
import sys
import time


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    messages = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".eml"):
            with open(os.path.join(folder, name), "rb") as f:
                raw = f.read()
            to = email.message_from_bytes(raw)["To"]
            messages.append((email.utils.parseaddr(to)[1], raw))
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for to, raw in messages:
            smtp.sendmail("support@example.com", [to], raw)
    elapsed = time.perf_counter() - start
    print("%d %.3f" % (len(messages), elapsed))


if __name__ == "__main__":
    main()
