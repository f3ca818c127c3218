#!/usr/bin/env python3
"""lmtp.py - deliver one message over LMTP (RFC 2033), for the tests.

    lmtp.py (--port P | --socket PATH) [--host 127.0.0.1] --from ADDR
            --to ADDR [--to ADDR ...] [--file MSG]

One transaction: LHLO, MAIL FROM, RCPT TO for each --to, DATA (if any
recipient was accepted), QUIT.  The message is read from MSG or standard
input and streamed (a 100 MB message is not held in memory).  On the wire:
every line end, LF or CRLF, becomes CRLF; a last line without one gets one;
a line starting with "." gets another "." (dot-stuffing).  Nothing else is
changed: a CR not followed by LF stays as it is, 8-bit bytes and NULs too.

Prints one line per recipient, in the order given:
    RCPT <addr> <code> <text>
with the RCPT reply if the server refused the recipient there, else the
recipient's own reply after the data (LMTP answers each accepted recipient
separately).  Exit status: 0 if every recipient got a 2xx reply, 69 if any
got a 5xx (EX_UNAVAILABLE), else 75 (EX_TEMPFAIL, for 4xx).
"""

import argparse
import smtplib
import sys

EX_OK = 0
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
CHUNK = 1 << 20


def lmtp_data(src, send):
    """Sends the message from the binary file src, then the final ".".

    Line ends become CRLF and lines are dot-stuffed, chunk by chunk: a CR at
    the end of a chunk is held back until the next byte is known.
    """
    at_line_start = True
    held = b""
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            break
        chunk = held + chunk
        held = b""
        if chunk.endswith(b"\r"):
            held = b"\r"
            chunk = chunk[:-1]
            if not chunk:
                continue
        out = chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if at_line_start and out.startswith(b"."):
            out = b"." + out
        out = out.replace(b"\n.", b"\n..")
        at_line_start = out.endswith(b"\n")
        send(out)
    if held:
        send(held)
        at_line_start = False
    if not at_line_start:
        send(b"\r\n")
    send(b".\r\n")


def text(msg):
    return msg.decode("utf-8", "replace").replace("\n", " ")


def main():
    ap = argparse.ArgumentParser(description="Deliver one message over LMTP.")
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="TCP port")
    where.add_argument("--socket", help="unix socket path")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--from", dest="sender", required=True)
    ap.add_argument("--to", dest="rcpts", action="append", required=True)
    ap.add_argument("--file", help="the message (default: standard input)")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()

    replies = {}  # index in args.rcpts -> (code, text)
    try:
        if args.socket:
            conn = smtplib.LMTP(args.socket, timeout=args.timeout)
        else:
            conn = smtplib.LMTP(args.host, args.port, timeout=args.timeout)
        code, msg = conn.ehlo()  # LHLO
        if code != 250:
            sys.exit("lmtp.py: LHLO: %d %s" % (code, text(msg)))
        options = ["BODY=8BITMIME"] if conn.has_extn("8bitmime") else []
        code, msg = conn.mail(args.sender, options)
        if code != 250:
            for i in range(len(args.rcpts)):
                replies[i] = (code, "MAIL FROM: " + text(msg))
        else:
            accepted = []
            for i, rcpt in enumerate(args.rcpts):
                code, msg = conn.rcpt(rcpt)
                if code // 100 == 2:
                    accepted.append(i)
                else:
                    replies[i] = (code, text(msg))
            if accepted:
                code, msg = conn.docmd("DATA")
                if code != 354:
                    for i in accepted:
                        replies[i] = (code, "DATA: " + text(msg))
                else:
                    if args.file:
                        with open(args.file, "rb") as src:
                            lmtp_data(src, conn.send)
                    else:
                        lmtp_data(sys.stdin.buffer, conn.send)
                    # One reply per accepted recipient, in RCPT order.
                    for i in accepted:
                        code, msg = conn.getreply()
                        replies[i] = (code, text(msg))
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass
    except smtplib.SMTPServerDisconnected as e:
        # The connection went away: no answer for the rest.
        for i in range(len(args.rcpts)):
            replies.setdefault(i, (421, "connection lost: %s" % e))
    except (smtplib.SMTPException, OSError) as e:
        sys.exit("lmtp.py: %s" % e)

    status = EX_OK
    for i, rcpt in enumerate(args.rcpts):
        code, msg = replies[i]
        print("RCPT %s %d %s" % (rcpt, code, msg))
        if code // 100 == 5:
            status = EX_UNAVAILABLE
        elif code // 100 != 2 and status != EX_UNAVAILABLE:
            status = EX_TEMPFAIL
    sys.exit(status)


if __name__ == "__main__":
    main()
