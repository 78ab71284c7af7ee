"""py-sandbox: a Python plugin that misbehaves on request, to show that the sandbox holds for
Python as it does for Rust. Its validate hook reads the story's title:

- "Endlosschleife": loops forever (stopped by the fuel or wall-time limit);
- "Speicherfresser": allocates 1 GiB (stopped by the memory limit);
- "Schlafen": sleeps for an hour (a plugin cannot wait: the call traps at once);
- "Ausnahme": raises an exception (the traceback reaches the server log and the error);
- "Umwelt": reports what it can see of the world as issues — files, environment, network,
  clock — each of which must come back empty or refused.
"""

import os
import socket
import time

from verbund_plugin import Hook, Issue, Manifest, Plugin


def probe():
    seen = []
    try:
        seen.append("dateien: " + ",".join(sorted(os.listdir("/"))))
    except Exception as e:
        seen.append(f"dateien: verweigert ({type(e).__name__})")
    try:
        with open("/etc/passwd") as f:
            seen.append("passwd: " + f.read(40))
    except Exception as e:
        seen.append(f"passwd: verweigert ({type(e).__name__})")
    seen.append("umgebung: " + ",".join(sorted(os.environ.keys())))
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.connect(("127.0.0.1", 80))
        seen.append("netz: verbunden")
    except Exception as e:
        seen.append(f"netz: verweigert ({type(e).__name__})")
    seen.append(f"uhr: {time.time():.0f} {time.monotonic():.0f}")
    return seen


class WitWorld(Plugin):
    def describe(self):
        return Manifest("py-sandbox", "0.1.0", "Testet die Grenzen der Sandbox (Python).",
                        hooks=[Hook.VALIDATE], grants=["story"])

    def check(self, entry):
        title = entry.text("title") or ""
        if "Endlosschleife" in title:
            n = 0
            while True:
                n += 1
        if "Speicherfresser" in title:
            hog = bytearray(1 << 30)
            return [Issue.at("/title", f"{len(hog)} Bytes belegt")]
        if "Schlafen" in title:
            time.sleep(3600)
        if "Ausnahme" in title:
            raise RuntimeError("absichtlicher Fehler im Plugin")
        if "Umwelt" in title:
            return [Issue.at("", line) for line in probe()]
        return []
