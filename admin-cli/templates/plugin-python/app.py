"""{{name}}: a Verbund plugin in Python. Build: `{{build}} --dir .`; install:
`verbund plugin install {{name}}.wasm --grant read:story`."""

from verbund_plugin import Hook, Issue, Manifest, Plugin


class WitWorld(Plugin):
    def describe(self):
        return Manifest("{{name}}", "0.1.0", "Prüft den Titel von Geschichten.",
                        hooks=[Hook.VALIDATE], grants=["story"])

    # Called on every write of a granted type, after the JSON Schema check.
    def check(self, entry):
        title = entry.text("title") or ""
        if title.strip().endswith("."):
            return [Issue.at("/title", "Ein Titel endet ohne Punkt.")]
        return []
