#!/usr/bin/env python3
"""imap.py - a few IMAP operations for the tests (plain IMAP, LOGIN).

    imap.py [--host 127.0.0.1] --port P --user U --password-file F COMMAND ...

Commands:
    list MAILBOX
        One line per message, in UID order: "UID (FLAGS) RFC822.SIZE",
        e.g. "1 (\\Seen) 523" ("()" for no flags).  The mailbox is opened
        read-only (EXAMINE), so \\Recent stays and nothing changes.
    fetch MAILBOX UID --item ITEM
        The server's FETCH response for ITEM (e.g. RFC822.SIZE,
        BODYSTRUCTURE) on one line as received, e.g.
        "* 1 FETCH (UID 1 RFC822.SIZE 523)"; a literal appears inline as
        {N}CRLF followed by its bytes.
    fetch MAILBOX UID --body OUTFILE
        BODY.PEEK[] (the whole message, \\Seen not set) into OUTFILE,
        byte for byte as the server sent the literal.
    append MAILBOX FILE [--flags '\\Seen ...']
        APPENDs FILE's bytes unchanged (imaplib's append() would turn every
        CR and LF into CRLF; this does not); prints the APPENDUID "UIDVALIDITY
        UID" when the server gives one.
    store MAILBOX UID +FLAGS|-FLAGS|FLAGS FLAG...
        UID STORE, e.g. "store INBOX 3 +FLAGS '\\Seen' '\\Flagged'"; prints
        the FETCH responses.

The password file holds the password (a final newline is ignored).  Any NO
or BAD, or a UID that does not exist, ends the program with status 1 and a
message on standard error.
"""

import argparse
import imaplib
import re
import sys


class Failed(Exception):
    pass


def check(what, typ, data):
    """Raises Failed unless the command completed with OK."""
    if typ != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise Failed("%s: %s %s" % (what, typ, detail))
    return data


def quoted(mailbox):
    """A mailbox name as an IMAP quoted string."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def open_mailbox(conn, mailbox, readonly):
    typ, data = conn.select(quoted(mailbox), readonly=readonly)
    check("SELECT " + mailbox, typ, data)
    return int(data[0] or 0)


def fetch_responses(data):
    """imaplib's FETCH data as responses: lists of items, a (line, literal)
    tuple for each literal, then the rest of the line (always bytes)."""
    responses, current = [], []
    for d in data:
        if d is None:
            continue
        current.append(d)
        if not isinstance(d, tuple):
            responses.append(current)
            current = []
    return responses


def raw(response):
    """A FETCH response as received, without the final CRLF (imaplib takes
    "* " and "FETCH " off; they are put back)."""
    text = b"".join(d[0] + b"\r\n" + d[1] if isinstance(d, tuple) else d for d in response)
    return b"* " + re.sub(rb"^(\d+) ", rb"\1 FETCH ", text, count=1)


def words(response):
    """A response without the literals' contents, to look for items in."""
    return b" ".join(d[0] if isinstance(d, tuple) else d for d in response)


def uid_of(response):
    m = re.search(rb"\bUID (\d+)", words(response))
    return int(m.group(1)) if m else None


def cmd_list(conn, args):
    if open_mailbox(conn, args.mailbox, True) == 0:
        return
    typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS RFC822.SIZE)")
    check("UID FETCH", typ, data)
    rows = []
    for r in fetch_responses(data):
        w = words(r)
        m_uid = re.search(rb"\bUID (\d+)", w)
        m_flags = re.search(rb"\bFLAGS (\([^)]*\))", w)
        m_size = re.search(rb"\bRFC822\.SIZE (\d+)", w)
        if not (m_uid and m_flags and m_size):
            continue  # an unsolicited FETCH (flag update)
        rows.append((int(m_uid.group(1)), m_flags.group(1).decode(), int(m_size.group(1))))
    for uid, flags, size in sorted(rows):
        print("%d %s %d" % (uid, flags, size))


def cmd_fetch(conn, args):
    open_mailbox(conn, args.mailbox, True)
    item = "BODY.PEEK[]" if args.body else args.item
    typ, data = conn.uid("FETCH", str(args.uid), "(UID %s)" % item)
    check("UID FETCH %s %s" % (args.uid, item), typ, data)
    mine = [r for r in fetch_responses(data) if uid_of(r) == args.uid]
    if not mine:
        raise Failed("%s: no message with UID %d" % (args.mailbox, args.uid))
    if args.body:
        for r in mine:
            for d in r:
                if isinstance(d, tuple) and re.search(rb"BODY\[\] \{\d+\}$", d[0]):
                    with open(args.body, "wb") as out:
                        out.write(d[1])
                    return
        raise Failed("UID FETCH %d: no BODY[] literal in %r" % (args.uid, data))
    for r in mine:
        sys.stdout.buffer.write(raw(r) + b"\n")


def cmd_append(conn, args):
    with open(args.file, "rb") as f:
        message = f.read()
    flags = "(%s)" % args.flags if args.flags else None
    # imaplib's append() rewrites line ends; set the literal ourselves.
    # (imaplib sends a literal set this way, as append() does, with the
    # command's last argument; _simple_command is what append() calls.)
    conn.literal = message
    typ, data = conn._simple_command("APPEND", quoted(args.mailbox), flags)
    check("APPEND " + args.mailbox, typ, data)
    m = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[-1] or b"")
    if m:
        print("%s %s" % (m.group(1).decode(), m.group(2).decode()))


def cmd_store(conn, args):
    open_mailbox(conn, args.mailbox, False)
    typ, data = conn.uid("STORE", str(args.uid), args.op, "(%s)" % " ".join(args.flags))
    check("UID STORE", typ, data)
    responses = [r for r in fetch_responses(data) if uid_of(r) == args.uid]
    if not responses:
        raise Failed("%s: no message with UID %d" % (args.mailbox, args.uid))
    for r in responses:
        sys.stdout.buffer.write(raw(r) + b"\n")


def main():
    ap = argparse.ArgumentParser(description="A few IMAP operations.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--timeout", type=float, default=120)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list")
    p.add_argument("mailbox")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("fetch")
    p.add_argument("mailbox")
    p.add_argument("uid", type=int)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--item")
    what.add_argument("--body", metavar="OUTFILE")
    p.set_defaults(run=cmd_fetch)

    p = sub.add_parser("append")
    p.add_argument("mailbox")
    p.add_argument("file")
    p.add_argument("--flags")
    p.set_defaults(run=cmd_append)

    p = sub.add_parser("store")
    p.add_argument("mailbox")
    p.add_argument("uid", type=int)
    p.add_argument("op", choices=["+FLAGS", "-FLAGS", "FLAGS"])
    p.add_argument("flags", nargs="+")
    p.set_defaults(run=cmd_store)

    args = ap.parse_args()
    try:
        with open(args.password_file) as f:
            password = f.read().rstrip("\n")
        conn = imaplib.IMAP4(args.host, args.port, timeout=args.timeout)
        try:
            typ, data = conn.login(args.user, password)
            check("LOGIN " + args.user, typ, data)
            args.run(conn, args)
        finally:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
    except Failed as e:
        sys.exit("imap.py: %s" % e)
    except imaplib.IMAP4.error as e:
        # imaplib puts the server's text in as bytes.
        detail = e.args[0] if e.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        sys.exit("imap.py: %s" % detail)
    except OSError as e:
        sys.exit("imap.py: %s" % e)


if __name__ == "__main__":
    main()
