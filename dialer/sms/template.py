"""Message templates: `Hello {first_name}, ...` filled from the contact's name and attributes.

Only plain `{name}` placeholders (letters, digits, `_`); `{{` and `}}` are literal braces. A missing
value is an error for that one lead (`MissingPlaceholder`), never a crash and never an empty gap.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class TemplateError(ValueError):
    """A template that cannot be used (bad placeholder syntax)."""


class MissingPlaceholder(LookupError):
    """The lead lacks values for these placeholders."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(", ".join(names))
        self.names = names


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: literal text and placeholder names, alternating."""

    parts: tuple[str | tuple[str], ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The placeholder names, in order of first use."""
        return tuple(dict.fromkeys(p[0] for p in self.parts if isinstance(p, tuple)))

    def render(self, values: Mapping[str, str]) -> str:
        """The message; raises MissingPlaceholder naming every placeholder without a value."""
        missing = tuple(n for n in self.names if not values.get(n, "").strip())
        if missing:
            raise MissingPlaceholder(missing)
        return "".join(values[p[0]].strip() if isinstance(p, tuple) else p for p in self.parts)


def parse_template(text: str) -> Template:
    """Parse `text`; raises TemplateError for a placeholder that is not a plain name or a lone brace."""
    parts: list[str | tuple[str]] = []
    literal: list[str] = []
    position = 0
    for match in _TOKEN.finditer(text):
        literal.append(text[position:match.start()])
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif match.group(1) is not None:
            name = match.group(1).strip()
            if not _NAME.fullmatch(name):
                raise TemplateError(f"placeholder {{{match.group(1)}}} must be a plain name (letters, digits, _)")
            parts.append("".join(literal))
            literal = []
            parts.append((name,))
        else:
            raise TemplateError(f"lone {token!r} at character {match.start() + 1}: write {token * 2} for a brace")
    literal.append(text[position:])
    parts.append("".join(literal))
    return Template(tuple(p for p in parts if p != ""))


def template_values(name: str | None, attributes: Mapping[str, str], campaign: str) -> dict[str, str]:
    """What a placeholder may name: the import's attributes, then `name`, `first_name`, `last_name`
    (from the contact's name, when the file had no such column) and `campaign`."""
    values = {str(k): str(v) for k, v in attributes.items()}
    full = (name or "").strip()
    first, _, last = full.partition(" ")
    values.setdefault("name", full)
    values.setdefault("first_name", first)
    values.setdefault("last_name", last.strip())
    values.setdefault("campaign", campaign)
    return values
