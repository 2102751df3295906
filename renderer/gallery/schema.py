"""What one gallery setting is: its key in ``gallery.toml``, the check of its value, its flag
and its lines in the generated file, declared once on its ``GalleryConfig`` field.

``setting(...)`` is a ``dataclasses.field`` whose metadata holds a ``Setting``; the schema
(the checks and their one-line messages), the ``gallery.toml`` template and the options of
``renderer gallery build`` are all read back from the fields (``settings_of``), so a new
setting is one field, as sigal's ``_DEFAULT_CONFIG`` names each setting once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ..errors import RecipeError
from ..sizes import parse_size

TEMPLATE_WIDTH = 92  # the template's lines, comments included, fit this many columns


@dataclass(frozen=True)
class Value:
    """What a value must be: in words (for the one-line error) and as a test. ``kind`` says
    how the config treats it once checked: "path" (relative to the file), "names" (a
    tuple of distinct names), or "" (as it is)."""

    expected: str
    check: Callable[[Any], bool]
    kind: str = ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _names(value: Any, item: tuple[type, ...] = (str,)) -> bool:
    items = value if isinstance(value, (list, tuple)) else [value]
    return all(isinstance(v, item) and not isinstance(v, bool) for v in items)


def _is_size(value: Any) -> bool:
    try:
        parse_size(value)
    except (RecipeError, TypeError):
        return False
    return True


def _is_url(value: Any) -> bool:
    url = value.strip() if isinstance(value, str) else ""
    return url.startswith(("http://", "https://")) and len(url.split("/")) >= 3


# A Dask scheduler's address, or a LocalCluster here: "local" or "local:N".
_LOCAL_CLUSTER = re.compile(r"local(:[1-9][0-9]{0,2})?")
_SCHEDULER = re.compile(r"((tcp|tls|ws|wss|ucx)://)?[^\s/:]+(:[0-9]{1,5})?")


def _is_cluster(value: Any) -> bool:
    address = value.strip() if isinstance(value, str) else ""
    local = address == "local" or address.startswith("local:")
    return bool((_LOCAL_CLUSTER if local else _SCHEDULER).fullmatch(address))


PATH = Value("a path (text)", lambda v: isinstance(v, (str, os.PathLike)), "path")
TEXT = Value("text", lambda v: isinstance(v, str))
NON_EMPTY_TEXT = Value("non-empty text", lambda v: isinstance(v, str) and bool(v.strip()))
BOOL = Value("true or false", lambda v: isinstance(v, bool))
NAMES = Value("a name or a list of names", _names, "names")
CLASSES = Value(
    "a class (index or name) or a list of them", lambda v: _names(v, (str, int)), "names"
)
MASKS = Value("a list of subject, background or lime, each as MODE or PHOTO:MODE", _names, "names")
POSITIVE = Value("a number > 0", lambda v: _is_number(v) and v > 0)
GIGABYTES = Value("a number of GB > 0", POSITIVE.check)
WHOLE = Value("a whole number", _is_int)
NUMBER = Value("a number", _is_number)
SIZE = Value('"auto", "full" or 32..4096 pixels', _is_size)
URL = Value("an http:// or https:// address", _is_url)
CLUSTER = Value("tcp://HOST:PORT, local or local:N", _is_cluster)
FPS = Value("a number 0..60 (0: the source's)", lambda v: _is_number(v) and 0 <= v <= 60)


def whole(low: int, high: int | None = None, unit: str = "") -> Value:
    """A whole number in ``low..high`` (no upper bound when ``high`` is None)."""
    words = f"a whole number >= {low}" if high is None else f"a whole number {low}..{high}"
    return Value(
        words + (f" ({unit})" if unit else ""),
        lambda v: _is_int(v) and low <= v and (high is None or v <= high),
    )


@dataclass(frozen=True)
class Flag:
    """The setting's option on ``renderer gallery build``. Its value, when given, overrides
    the file's; not given, it is None and the file (or the default) decides."""

    decls: tuple[str, ...]
    help: str
    type: Any = None  # a click type; None: text
    metavar: str | None = None
    is_flag: bool = False
    multiple: bool = False
    name: str | None = None  # the click parameter, when not the field's name
    invert: bool = False  # ``--flat`` is ``albums = false``
    # "[default: ...]" in --help: these words, True for the setting's default, None for none
    shown_default: str | bool | None = None

    def option_kwargs(self, default: Any = None) -> dict[str, Any]:
        """``click.option``'s keywords (without the declarations); ``default`` is the
        setting's, shown when ``shown_default`` is True (the flag's own is None)."""
        help_text = self.help
        if self.shown_default is True:
            help_text += f"  [default: {shown(default)}]"
        elif self.shown_default:
            help_text += f"  [default: {self.shown_default}]"
        kwargs: dict[str, Any] = {"help": help_text}
        if self.type is not None:
            kwargs["type"] = self.type
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        if self.multiple:
            kwargs["multiple"] = True
        else:
            kwargs["default"] = None
        if self.is_flag:
            kwargs["is_flag"] = True
        return kwargs

    def value(self, given: Any) -> Any:
        """The setting's value from the flag's (None: not given)."""
        if self.multiple:
            return tuple(given) or None
        if self.invert and given is not None:
            return not given
        return given


@dataclass(frozen=True)
class Setting:
    """One setting of ``gallery.toml``. ``field`` and ``key`` are filled in from the
    ``GalleryConfig`` field that declares it (``key`` defaults to the field's name)."""

    value: Value
    section: str = ""  # the file's table ("" for the top level)
    key: str = ""
    aliases: tuple[str, ...] = ()  # other keys the file may use for it
    note: str = ""  # the template's comment; "" uses the flag's help
    live: bool = True  # the template writes the default; False: an example, commented out
    example: Any = None  # the commented-out value (None: the default)
    flag: Flag | None = None
    field: str = ""
    default: Any = None

    @property
    def expected(self) -> str:
        return self.value.expected

    @property
    def label(self) -> str:
        """How messages name it: ``per_page`` or ``[zoom] frames``."""
        return f"[{self.section}] {self.key}" if self.section else self.key

    def check(self, value: Any) -> bool:
        return self.value.check(value)


def setting(default: Any = None, value: Value = TEXT, **details: Any) -> Any:
    """A ``GalleryConfig`` field that is a ``gallery.toml`` setting (see ``Setting``)."""
    meta = {"setting": Setting(value, **details)}
    if isinstance(default, (list, dict, set)):
        raise TypeError("a setting's default must be immutable")
    return dataclasses.field(default=default, metadata=meta)


def settings_of(cls: type) -> tuple[Setting, ...]:
    """The settings a dataclass declares, in field order, each knowing its field."""
    found = []
    for f in dataclasses.fields(cls):
        declared = f.metadata.get("setting")
        if declared is not None:
            key = declared.key or f.name
            found.append(dataclasses.replace(declared, field=f.name, key=key, default=f.default))
    return tuple(found)


def check_value(where: str, label: str, setting: Setting, value: Any) -> None:
    """One line naming the file (or "gallery"), the key and what it must be."""
    if not setting.check(value):
        raise RecipeError(f"{where}: {label} must be {setting.expected}, got {value!r}")


def shown(value: Any) -> str:
    """A default as ``--help`` shows it: ``48``, ``200``, ``renders/gallery``, ``a, b``."""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(shown, value))
    if isinstance(value, float):
        return f"{value:g}"
    return value.as_posix() if isinstance(value, PurePath) else str(value)


def toml_value(value: Any) -> str:
    """A value as TOML writes it (the types a setting holds)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, PurePath):
        value = value.as_posix()
    return json.dumps(str(value), ensure_ascii=False)


def _comment(text: str, width: int = TEMPLATE_WIDTH) -> list[str]:
    """``text`` as ``#`` lines; its own line breaks are kept."""
    return [
        "# " + line if line else "#"
        for para in text.split("\n")
        for line in (textwrap.wrap(para, width - 2) or [""])
    ]


def template_lines(setting: Setting, **words: str) -> Iterator[str]:
    """The setting's lines in ``gallery.toml``: its note, then ``key = value`` (commented
    out when it is an example). A short note goes at the end of the line instead."""
    value = setting.default if setting.example is None else setting.example
    line = f"{setting.key} = {toml_value(value)}"
    if not setting.live:
        line = "# " + line
    note = (setting.note or (setting.flag.help if setting.flag else "")).format(**words)
    beside = f"{line:<24} # {note}"
    if note and "\n" not in note and len(beside) <= TEMPLATE_WIDTH and len(note) <= 60:
        yield beside
        return
    if note:
        yield from _comment(note)
    yield line


def template(
    settings: tuple[Setting, ...], head: str, sections: dict[str, str], **words: str
) -> str:
    """The commented ``gallery.toml``: ``head``, the top-level settings, then each table of
    ``sections`` (its note, its settings). ``words`` fill ``{name}`` in the notes."""
    lines = _comment(head)
    for section in ("", *sections):
        lines.append("")
        if section:
            lines.append(f"[{section}]")
            if sections[section]:
                lines.extend(_comment(sections[section].format(**words)))
        apart = False  # a setting with a comment of its own stands apart
        for n, one in enumerate(s for s in settings if s.section == section):
            these = list(template_lines(one, **words))
            if n and (apart or len(these) > 1):
                lines.append("")
            lines.extend(these)
            apart = len(these) > 1
    return "\n".join(lines) + "\n"
