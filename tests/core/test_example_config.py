"""config/dialer.example.toml shows every key with its true default, or says it is an example.

A key whose value differs from the model's default must carry `# example` at the end of its line
(a table entry's name, like `[campaigns.spring-sale]`, is an example by nature; its keys are still
compared with their defaults). Copying the file as INSTALL.md says must not turn anything on.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from dialer.config import Config, load_config

EXAMPLE = Path(__file__).parents[2] / "config" / "dialer.example.toml"
REQUIRED = object()
_KEY = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")
_HEADER = re.compile(r"^\s*\[([^\]]+)\]")


def leaves(data: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += leaves(value, (*prefix, key))
        else:
            found.append(((*prefix, key), value))
    return found


def marked_paths(text: str) -> set[tuple[str, ...]]:
    """Key paths whose line ends with `# example` (a mark on a key covers the leaves below it)."""
    marked = set()
    table: tuple[str, ...] = ()
    for line in text.splitlines():
        header = _HEADER.match(line)
        if header:
            table = tuple(part.strip() for part in header.group(1).split("."))
            continue
        key = _KEY.match(line)
        if key and re.search(r"#\s*example\s*$", line):
            marked.add((*table, key.group(1)))
    return marked


def _model_class(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_class(arg)
            if found is not None:
                return found
    return None


def default_at(path: tuple[str, ...]) -> Any:
    """The model's default for a key path (REQUIRED if the key has none; KeyError if no such key)."""
    obj: Any = Config()
    cls: type[BaseModel] | None = None  # set when walking a model class without an instance
    annotation: Any = None
    for part in path:
        if cls is not None:
            field = cls.model_fields[part]
            annotation = field.annotation
            if field.is_required():
                return REQUIRED
            obj = field.get_default(call_default_factory=True)
            cls = None
        elif isinstance(obj, BaseModel):
            field = type(obj).model_fields[part]
            annotation = field.annotation
            obj = getattr(obj, part)
        elif isinstance(obj, dict):
            if part in obj:
                obj = obj[part]
                annotation = None
            else:  # an entry the defaults do not have: compare with its model's field defaults
                value_type = typing.get_args(annotation)[1] if annotation is not None else None
                cls = _model_class(value_type)
                if cls is None:
                    raise KeyError(path)
                continue
        else:
            raise KeyError(path)
        if obj is None and cls is None:
            nested = _model_class(annotation)
            if nested is not None and part != path[-1]:
                cls = nested
    return obj


def loaded_at(config: Config, path: tuple[str, ...]) -> Any:
    obj: Any = config
    for part in path:
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def test_every_key_shows_its_default_or_is_marked_as_an_example():
    text = EXAMPLE.read_text()
    data = tomllib.loads(text)
    config = load_config(EXAMPLE, environ={"DIALER_AMI_SECRET": "s"})
    marked = marked_paths(text)
    wrong = []
    for path, _ in leaves(data):
        if any(path[:n] in marked for n in range(1, len(path) + 1)):
            continue
        try:
            default = default_at(path)
        except KeyError:
            wrong.append(f"{'.'.join(path)}: a key of a free-form table (mark it `# example`)")
            continue
        if default is REQUIRED:
            continue  # a required key (a trunk's channel): any value is an example
        actual = loaded_at(config, path)
        if isinstance(default, BaseModel):
            default = default.model_dump()
        if isinstance(actual, tuple) and isinstance(default, tuple):
            actual, default = sorted(actual), sorted(default)  # the models sort lists of names
        if actual != default:
            wrong.append(f"{'.'.join(path)} = {actual!r} but the default is {default!r}")
    assert not wrong, "mark these `# example` or show the default:\n" + "\n".join(wrong)


def test_recording_is_off_in_the_example_as_it_is_by_default():
    config = load_config(EXAMPLE, environ={"DIALER_AMI_SECRET": "s"})
    assert config.recordings.enabled is False
    assert Config().recordings.enabled is False


def _fields(cls: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if cls in seen:
        return set()
    seen.add(cls)
    names = set()
    for name, field in cls.model_fields.items():
        if field.exclude:
            continue
        names.add(name)
        for arg in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (arg, *typing.get_args(arg)):
                nested = _model_class(inner)
                if nested is not None:
                    names |= _fields(nested, seen)
    return names


def test_every_key_of_the_models_is_documented_in_the_example():
    lines = EXAMPLE.read_text().splitlines()
    written = {name for line in lines for name in re.findall(r"([A-Za-z0-9_]+)\s*=", line)}
    written |= {part for line in lines if (m := _HEADER.match(line.lstrip("# "))) for part in m.group(1).split(".")}
    missing = sorted(_fields(Config, set()) - written)
    assert not missing, f"keys not shown (nor commented) in {EXAMPLE.name}: {missing}"


def test_an_unmarked_key_with_a_value_other_than_its_default_is_found(tmp_path):
    """The check above can fail: a wrong default in an unmarked line is reported."""
    text = EXAMPLE.read_text().replace("[recordings]\n", "[recordings]\nretention_days = 91\n", 1)
    text = re.sub(r"(?m)^retention_days = 90\n", "", text, count=1)
    data = tomllib.loads(text)
    assert data["recordings"]["retention_days"] == 91
    assert default_at(("recordings", "retention_days")) == 90
    assert ("recordings", "retention_days") not in marked_paths(text)


def test_the_example_names_every_section_a_reload_cannot_change():
    """The reload keeps RESTART_ONLY sections at their running values: the example must say so
    where each of them starts (and not claim it of a section a reload does change)."""
    from dialer.daemon import RESTART_ONLY

    lines = EXAMPLE.read_text().splitlines()
    says_restart = set()
    for i, line in enumerate(lines):
        header = _HEADER.match(line)
        if header and "." not in header.group(1):
            comment = []
            for following in lines[i + 1:]:
                if not following.startswith("#"):
                    break
                comment.append(following)
            if "needs a restart" in " ".join(comment):
                says_restart.add(header.group(1))
    assert says_restart == set(RESTART_ONLY)
