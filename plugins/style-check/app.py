"""style-check: the cluster's house style for stories, as a validate hook in Python.

Rules (from the editorial guide of the cluster):
- The teaser is a short, complete thought: 60 to 240 characters.
- Link texts say where they lead: never "hier klicken", "hier", "mehr" or "Link".
- No headline in capitals only (title and Markdown headings): it reads as shouting.
Every finding names the field (a JSON pointer) and says how to fix it.
"""

import re

from verbund_plugin import Hook, Issue, Manifest, Plugin, config

TEASER_MIN = 60
TEASER_MAX = 240
LINK = re.compile(r"\[([^\]]*)\]\(([^)]*)\)")
VAGUE_LINK_TEXTS = {"hier klicken", "hier", "klicken sie hier", "mehr", "link", "weiterlesen",
                    "click here", "here"}
HEADING = re.compile(r"^(#{1,6})\s+(.*)$", re.MULTILINE)


def shouting(text: str) -> bool:
    """Whether a headline is in capitals only (at least two words of letters)."""
    letters = [c for c in text if c.isalpha()]
    words = [w for w in re.split(r"\s+", text.strip()) if any(c.isalpha() for c in w)]
    return len(letters) >= 6 and len(words) >= 2 and all(c.isupper() for c in letters)


class WitWorld(Plugin):
    def describe(self):
        return Manifest(
            "style-check", "0.1.0",
            "Hausstil für Geschichten: Teaserlänge, sprechende Linktexte, keine Überschriften in Großbuchstaben.",
            hooks=[Hook.VALIDATE],
            grants=["story"],
        )

    def check(self, entry):
        if entry.content_type != "story":
            return []
        issues = []
        lo = int(config("teaser_min") or TEASER_MIN)
        hi = int(config("teaser_max") or TEASER_MAX)
        teaser = entry.text("teaser")
        if teaser is not None:
            n = len(teaser.strip())
            if n < lo:
                issues.append(Issue.at("/teaser", f"Der Teaser hat {n} Zeichen; er braucht mindestens {lo}, "
                                       "damit er auf der Startseite für sich steht."))
            elif n > hi:
                issues.append(Issue.at("/teaser", f"Der Teaser hat {n} Zeichen; erlaubt sind höchstens {hi}. "
                                       "Kürzen Sie auf einen Gedanken, Details gehören in den Text."))
        title = entry.text("title")
        if title and shouting(title):
            issues.append(Issue.at("/title", f"Der Titel „{title}“ steht ganz in Großbuchstaben; "
                                   "schreiben Sie ihn in normaler Groß- und Kleinschreibung."))
        body = entry.text("body") or ""
        for m in LINK.finditer(body):
            text = m.group(1).strip()
            if text.lower().rstrip(".!:") in VAGUE_LINK_TEXTS:
                line = body.count("\n", 0, m.start()) + 1
                issues.append(Issue.at("/body", f"Zeile {line}: Der Linktext „{text}“ sagt nicht, wohin der Link "
                                       f"führt ({m.group(2)}); nennen Sie das Ziel, z. B. „Programm der Tagung“."))
        for m in HEADING.finditer(body):
            if shouting(m.group(2)):
                line = body.count("\n", 0, m.start()) + 1
                issues.append(Issue.at("/body", f"Zeile {line}: Die Überschrift „{m.group(2).strip()}“ steht ganz in "
                                       "Großbuchstaben; schreiben Sie sie normal."))
        return issues
