#!/usr/bin/env python3
"""Parses every mail in a spool directory with Python's `email` module and checks the headers
a mail program relies on. Prints one JSON object per mail (recipient, subject, whether the
RFC 8058 pair is valid, ...) and exits 1 with the problems when a header does not parse."""

import email
import email.policy
import email.utils
import json
import os
import sys


def check(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    problems = []
    out = {"file": os.path.basename(path)}
    for h in ("From", "To", "Subject", "Date", "Message-ID"):
        if msg[h] is None:
            problems.append("no %s header" % h)
    try:
        out["date"] = email.utils.parsedate_to_datetime(str(msg["Date"])).isoformat()
    except Exception as e:  # noqa: BLE001
        problems.append("Date does not parse: %s" % e)
    mid = str(msg["Message-ID"] or "")
    if not (mid.startswith("<") and mid.endswith(">") and "@" in mid):
        problems.append("Message-ID is not <id@domain>: %r" % mid)
    out["message_id"] = mid
    to = email.utils.getaddresses([str(msg["To"] or "")])
    out["to"] = to[0][1].lower() if to else ""
    out["to_name"] = to[0][0] if to else ""
    out["envelope_to"] = str(msg["X-Envelope-To"] or "").lower()
    out["subject"] = str(msg["Subject"] or "")
    out["from"] = str(msg["From"] or "")
    lu = msg["List-Unsubscribe"]
    lup = msg["List-Unsubscribe-Post"]
    out["list_id"] = str(msg["List-Id"] or "")
    out["list_unsubscribe"] = str(lu or "")
    # RFC 8058: List-Unsubscribe holds one https (or http) URI in angle brackets, and
    # List-Unsubscribe-Post is exactly "List-Unsubscribe=One-Click".
    urls = [u.strip() for u in str(lu or "").split(",") if u.strip()]
    http = [u[1:-1] for u in urls if u.startswith("<") and u.endswith(">") and u[1:].startswith("http")]
    out["rfc8058"] = bool(http) and str(lup or "") == "List-Unsubscribe=One-Click"
    out["unsubscribe_url"] = http[0] if http else ""
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    out["text"] = text.get_content() if text is not None else ""
    out["has_html"] = html is not None
    out["html_has_link"] = html is not None and out["unsubscribe_url"].replace("&", "&amp;") in html.get_content()
    if problems:
        out["problems"] = problems
    return out


def main():
    spool = sys.argv[1]
    bad = 0
    for name in sorted(os.listdir(spool)):
        if not name.endswith(".eml"):
            continue
        r = check(os.path.join(spool, name))
        bad += bool(r.get("problems"))
        print(json.dumps(r, ensure_ascii=False))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
