"""Python SDK for Verbund plugins (contract verbund:plugin@1.3.0).

A plugin is a module ``app`` that defines ``class WitWorld(Plugin)``; ``componentize-py``
turns it (with CPython) into a WebAssembly component that the server runs in the same
sandbox as a Rust plugin: the same grants, the same limits, and a WASI world with nothing
in it (no files, no network, no environment, a clock that stands still at the call's start).

    from verbund_plugin import Plugin, Manifest, Hook, Issue

    class WitWorld(Plugin):
        def describe(self):
            return Manifest("mein-plugin", "0.1.0", "Was es tut.", hooks=[Hook.VALIDATE])

        def validate(self, entry):
            return [Issue.at("/title", "Der Titel fehlt.")] if not entry.data.get("title") else []

See ``plugins/sdk-python/README.md`` for the walk from an empty folder to an installed plugin.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, Iterable, List, Optional, Sequence, Tuple

import wit_world
from wit_world.imports import host as _host
from wit_world.imports import types as _t
from componentize_py_types import Err

__all__ = [
    "CONTRACT", "Plugin", "Manifest", "Hook", "Grant", "Workflow", "Issue", "Entry",
    "Artifact", "Allow", "Deny", "HostError", "get", "query", "query_page", "query_published", "schema",
    "translations", "now", "config", "log", "param",
]

#: The contract this SDK is built against (the host accepts every 1.x it knows).
CONTRACT = "1.3.0"

Hook = _t.Hook
Allow = _t.Decision_Allow
Deny = _t.Decision_Deny


def Artifact(name: str, media_type: str, content: bytes | str) -> _t.Artifact:
    """One file of an export; text is encoded as UTF-8."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    return _t.Artifact(name=name, media_type=media_type, bytes=bytes(content))


def Grant(content_type: str, personal_data: bool = False) -> _t.Grant:
    """Read access to one content type (personal-data fields only when asked for)."""
    return _t.Grant(content_type=content_type, personal_data=personal_data)


class Workflow:
    """Builds a workflow, as the Rust SDK's ``Workflow`` does."""

    def __init__(self, content_type: str, initial: str):
        self._w = _t.Workflow(content_type=content_type, initial=initial, states=[], transitions=[])

    def state(self, name: str, label: str, public: bool) -> "Workflow":
        self._w.states.append(_t.StateDef(name=name, label=label, public=public))
        return self

    def transition(self, name: str, from_states: Sequence[str], to_state: str,
                   roles: Sequence[str] = (), comment_required: bool = False) -> "Workflow":
        self._w.transitions.append(_t.TransitionDef(
            name=name, from_states=list(from_states), to_state=to_state, roles=list(roles),
            comment_required=comment_required))
        return self

    def build(self) -> _t.Workflow:
        return self._w


def Manifest(name: str, version: str, description: str, *, hooks: Iterable[Any] = (),
             grants: Iterable[Any] = (), workflows: Iterable[Any] = (),
             exports: Iterable[Tuple[str, str]] = ()) -> _t.Manifest:
    """What the plugin declares: its hooks, the grants it asks for, workflows, exports.

    ``grants`` may name types (``"story"``) or be ``Grant(...)`` values; ``exports`` are
    ``(name, description)`` pairs.
    """
    return _t.Manifest(
        name=name, version=version, contract=CONTRACT, description=description,
        hooks=list(hooks),
        grants=[Grant(g) if isinstance(g, str) else g for g in grants],
        workflows=[w.build() if isinstance(w, Workflow) else w for w in workflows],
        exports=[_t.ExportDef(name=n, description=d) for n, d in exports],
    )


class Issue:
    """Builders for validation issues (JSON pointer into the entry's data + message)."""

    @staticmethod
    def at(pointer: str, message: str) -> _t.Issue:
        return _t.Issue(pointer=pointer, message=message)

    @staticmethod
    def entry(message: str) -> _t.Issue:
        return _t.Issue(pointer="", message=message)


class Entry:
    """An entry as the host hands it over, with its ``data`` parsed from JSON."""

    def __init__(self, raw: _t.Entry):
        self.raw = raw
        self.content_type = raw.content_type
        self.id = raw.id
        self.locale = raw.locale
        self.version = raw.version
        self.state = raw.state
        self.created_by = raw.created_by
        self.updated_by = raw.updated_by
        self.created_at = raw.created_at
        self.updated_at = raw.updated_at
        self.published_at = raw.published_at
        try:
            self.data = json.loads(raw.data) if raw.data else {}
        except ValueError:
            self.data = {}

    def text(self, name: str) -> Optional[str]:
        v = self.data.get(name)
        return v if isinstance(v, str) else None

    def __repr__(self) -> str:
        return f"Entry({self.content_type}/{self.id} v{self.version} {self.state})"


class HostError(Exception):
    """A host call failed: ``kind`` is ``not-granted``, ``invalid`` or ``limit``."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


def _host_call(f, *args):
    try:
        return f(*args)
    except Err as e:
        v = e.value
        kind = {"HostError_NotGranted": "not-granted", "HostError_Invalid": "invalid",
                "HostError_Limit": "limit"}.get(type(v).__name__, "error")
        raise HostError(kind, getattr(v, "value", str(v))) from None


def get(content_type: str, id: str) -> Optional[Entry]:
    """One entry (current version, any state) by type and id; None if there is none."""
    e = _host_call(_host.get, content_type, id)
    return Entry(e) if e is not None else None


def _filters(filters: Iterable[Tuple[str, str, Any]]) -> List[_t.Filter]:
    return [_t.Filter(field=f, op=op, value=str(v)) for f, op, v in filters]


def query(content_type: str, filters: Iterable[Tuple[str, str, Any]] = (), limit: int = 100) -> List[Entry]:
    """Entries of one type matching every ``(field, op, value)`` filter, ordered by id."""
    return [Entry(e) for e in _host_call(_host.query, content_type, _filters(filters), limit)]


def query_page(content_type: str, filters: Iterable[Tuple[str, str, Any]] = (), limit: int = 100,
               cursor: Optional[str] = None) -> Tuple[List[Entry], Optional[str]]:
    """One page of a query: the entries and the cursor of the next page (None at the end)."""
    p = _host_call(_host.query_page, content_type, _filters(filters), limit, cursor)
    return [Entry(e) for e in p.entries], p.next_cursor


def query_published(content_type: str, locale: str = "de", filters: Iterable[Tuple[str, str, Any]] = (),
                    sort: Sequence[str] = (), limit: int = 100,
                    cursor: Optional[str] = None) -> Tuple[List[Entry], Optional[str]]:
    """One page of the published view (what websites are served: the published version of
    each entry, no personal data) in ``locale``; filters on filterable fields, ``sort`` keys
    like ``"-published_at"``. Returns the entries and the next page's cursor."""
    p = _host_call(_host.query_published, content_type, locale, _filters(filters), list(sort), limit, cursor)
    return [Entry(e) for e in p.entries], p.next_cursor


def schema(content_type: str) -> dict:
    """The JSON Schema of a type as the server validates with (needs a grant)."""
    return json.loads(_host_call(_host.schema, content_type))


def translations(content_type: str, id: str) -> List[Entry]:
    """The original of an entry and every translation of it, the original first."""
    return [Entry(e) for e in _host_call(_host.translations, content_type, id)]


def now() -> str:
    """The current time, RFC 3339 in UTC (a plugin has no clock of its own)."""
    return _host.now()


def config(key: str) -> Optional[str]:
    """A setting the admin gave this plugin (``verbund plugin config NAME key=value``)."""
    return _host.config(key)


def param(params: Sequence[Tuple[str, str]], key: str) -> Optional[str]:
    """The value of ``key`` among an export's parameters."""
    for k, v in params:
        if k == key:
            return v
    return None


class log:
    """Messages for the server log, tagged with the plugin's name."""

    @staticmethod
    def debug(message: str) -> None:
        _host.log(_t.LogLevel.DEBUG, str(message))

    @staticmethod
    def info(message: str) -> None:
        _host.log(_t.LogLevel.INFO, str(message))

    @staticmethod
    def warn(message: str) -> None:
        _host.log(_t.LogLevel.WARN, str(message))

    @staticmethod
    def error(message: str) -> None:
        _host.log(_t.LogLevel.ERROR, str(message))


def _report(hook: str) -> None:
    """An uncaught exception: its traceback goes to the host log (and stderr, which the
    host shows with the fault), then the call fails."""
    text = traceback.format_exc()
    try:
        log.error(f"uncaught exception in {hook}:\n{text}")
    except Exception:  # the host may refuse (limit); stderr still has it
        pass
    print(text, file=sys.stderr)


class Plugin(wit_world.WitWorld):
    """Base class of a plugin: override ``describe`` and the hooks you declare.

    Hooks receive ``Entry`` objects (``entry.data`` is a dict). ``validate`` returns a list
    of ``Issue``s, ``on_transition`` returns ``Allow()`` or ``Deny("…")``, ``export`` returns
    a list of ``Artifact``s or raises ``ValueError("message for the user")``.
    """

    def describe(self) -> _t.Manifest:  # pragma: no cover - always overridden
        raise NotImplementedError("a plugin must override describe()")

    def check(self, entry: Entry) -> List[_t.Issue]:
        """Override this (not ``validate``) to check an entry."""
        return []

    def guard(self, entry: Entry, transition: _t.Transition, history: List[_t.HistoryItem]):
        """Override this (not ``on_transition``) to guard a transition."""
        return Allow()

    def produce(self, name: str, params: List[Tuple[str, str]]) -> List[_t.Artifact]:
        """Override this (not ``export``) to produce an export."""
        raise ValueError(f"this plugin has no export {name!r}")

    # The methods the host calls (the WIT names); they wrap the friendlier ones above.
    def validate(self, entry: _t.Entry) -> List[_t.Issue]:
        try:
            return list(self.check(Entry(entry)))
        except BaseException:
            _report("validate")
            raise

    def on_transition(self, entry, transition, history):
        try:
            return self.guard(Entry(entry), transition, history)
        except BaseException:
            _report("on-transition")
            raise

    def export(self, name, params):
        try:
            return list(self.produce(name, params))
        except ValueError as e:
            raise Err(str(e))
        except BaseException:
            _report("export")
            raise
