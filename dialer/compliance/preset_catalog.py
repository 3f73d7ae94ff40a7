"""Load the policy preset files and answer which of their rules apply to a number.

The built-in presets live in `dialer/compliance/presets/`; a user adds their own files in a folder
named by `[presets] dir`. Loading is strict: a file that does not parse, a key that is wrong or a
name used twice is a PresetError naming the file and the key, never a preset silently skipped.
"""

from __future__ import annotations

import csv
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from dialer.compliance.preset_model import CapRule, Preset, WindowRule
from dialer.compliance.windows import WeeklyWindow
from dialer.numbers import PhoneNumber

BUILTIN_DIR = Path(__file__).with_name("presets")
AREA_CODES = BUILTIN_DIR / "us_area_codes.csv"
DEFAULT = "default"

R = TypeVar("R")


class PresetError(ValueError):
    """A preset file that cannot be used: names the file, the key and what to do."""


@dataclass(frozen=True, slots=True)
class Applied(Generic[R]):
    """A rule of a preset that applies to one number, and where (a state name or the region)."""

    preset: Preset
    rule: R
    place: str

    @property
    def cite(self) -> str:
        """The short citation used in explanations, e.g. "Fla. Stat. 501.059"."""
        return self.rule.source.section  # type: ignore[attr-defined, no-any-return]


@dataclass(frozen=True, eq=False)  # compared (and cached) by identity: one catalog per config
class PresetCatalog:
    """Every preset by name, the US area-code table, and the country preset of each region."""

    presets: Mapping[str, Preset]
    area_codes: Mapping[str, tuple[str, ...]]
    files: Mapping[str, Path]
    # (names, region, states, kind) -> applicable rules: the gate asks for every number it judges.
    _applicable: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict, repr=False)

    def names(self) -> tuple[str, ...]:
        """Every preset's name, sorted."""
        return tuple(sorted(self.presets))

    def get(self, name: str) -> Preset:
        """The preset called `name`; KeyError naming the known ones."""
        try:
            return self.presets[name]
        except KeyError:
            raise KeyError(f"unknown preset {name!r} (known: {', '.join(self.names())})") from None

    def country(self, region: str) -> Preset:
        """The country preset applied implicitly to a region's numbers (the default preset if none)."""
        return _by_region(self).get(region.upper(), self.presets[DEFAULT])

    def country_window(self, region: str) -> WindowRule:
        """The window rule of the region's country preset."""
        rule: WindowRule = self.country(region).rules_of(WindowRule)[0]
        return rule

    def states_of(self, number: PhoneNumber) -> tuple[str, ...]:
        """The US states a number may belong to by its area code; every state when unknown.

        An area code the table does not place (toll-free, non-geographic, new overlays) could be
        anywhere, so all states are candidates and the strictest of their rules applies.
        """
        if number.region != "US" or not number.e164.startswith("+1"):
            return ()
        return self.area_codes.get(number.e164[2:5], _all_states(self))

    def applicable(self, names: Sequence[str], number: PhoneNumber, kind: type[R]) -> tuple[Applied[R], ...]:
        """The rules of type `kind` of the named presets that apply to `number`."""
        states = self.states_of(number)
        key = (tuple(names), number.region, states, kind)
        cached = self._applicable.get(key)
        if cached is None:
            cached = self._applicable[key] = self._find(names, number, states, kind)
        return cached

    def _find(self, names: Sequence[str], number: PhoneNumber, states: tuple[str, ...],
              kind: type[R]) -> tuple[Applied[R], ...]:
        found: list[Applied[R]] = []
        for name in names:
            preset = self.presets.get(name)
            if preset is None or (preset.regions and number.region not in preset.regions):
                continue
            for rule in preset.rules_of(kind):  # type: ignore[arg-type]
                if not rule.states:
                    found.append(Applied(preset, rule, _region_name(number.region)))
                    continue
                for state in rule.states:
                    if state in states:
                        found.append(Applied(preset, rule, preset.state_names[state]))
        return tuple(found)

    def campaign_rules(self, names: Sequence[str], kind: type[R]) -> tuple[Applied[R], ...]:
        """Rules of type `kind` that concern the campaign as a whole (recording, retention, lockout)."""
        return tuple(Applied(self.presets[n], r, n) for n in names if n in self.presets
                     for r in self.presets[n].rules_of(kind))  # type: ignore[arg-type]


_REGION_NAMES = {"US": "the US", "GB": "the UK", "CN": "China"}


def _region_name(region: str) -> str:
    return _REGION_NAMES.get(region, region)


@lru_cache(maxsize=8)
def _by_region(catalog: PresetCatalog) -> dict[str, Preset]:
    """Region -> its country preset (a region has at most one: `load_catalog` refuses a second)."""
    regions: dict[str, Preset] = {}
    for preset in catalog.presets.values():
        if preset.kind == "country":
            for region in preset.regions:
                regions[region] = preset
    return regions


@lru_cache(maxsize=8)
def _all_states(catalog: PresetCatalog) -> tuple[str, ...]:
    return tuple(sorted({s for states in catalog.area_codes.values() for s in states}))


def read_preset(path: Path) -> Preset:
    """One preset file, validated; PresetError naming the file and each wrong key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PresetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from None
    try:
        preset = Preset.model_validate(data)
    except ValidationError as exc:
        raise PresetError("; ".join(f"{path}: {_key(data, e['loc'])}: {_reason(e)}" for e in exc.errors())) from None
    if preset.name != path.stem:
        raise PresetError(f"{path}: name: {preset.name!r} differs from the file name; name the file {preset.name}.toml")
    return preset


def _key(data: Mapping[str, Any], loc: Sequence[Any]) -> str:
    """A pydantic location as a key path, rules named by their id: rules[us-fl-hours].source.in_force."""
    parts: list[str] = []
    node: Any = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list) and part < len(node):
            item = node[part]
            rid = item.get("id") if isinstance(item, dict) else None
            parts[-1] += f"[{rid}]" if rid else f"[{part}]"
            node = item
            continue
        # A discriminated union adds the type's tag to the path ("rules.0.window.hours"): drop it.
        if i > 0 and isinstance(node, dict) and part not in node and part == node.get("type"):
            continue
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts) or "(file)"


def _reason(error: Mapping[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown key"
    return str(error.get("msg", "invalid")).removeprefix("Value error, ")


def read_area_codes(path: Path = AREA_CODES) -> dict[str, tuple[str, ...]]:
    """The area-code table: {"305": ("FL",), "201": ("NJ", "NY")}."""
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["area_code"]: tuple(row["states"].split()) for row in csv.DictReader(handle)}


def load_catalog(dirs: Iterable[Path] = ()) -> PresetCatalog:
    """The built-in presets plus every `*.toml` in `dirs`; a user file may not reuse a name."""
    presets: dict[str, Preset] = {}
    files: dict[str, Path] = {}
    for folder in (BUILTIN_DIR, *dirs):
        if not folder.is_dir():
            raise PresetError(f"{folder}: not a folder of preset files ([presets] dir)")
        for path in sorted(folder.glob("*.toml")):
            preset = read_preset(path)
            if preset.name in presets:
                raise PresetError(f"{path}: name: preset {preset.name!r} is already defined by {files[preset.name]}; "
                                  "give yours another name (a campaign names the presets it is under)")
            if preset.kind == "country":
                taken = {r: n for n, p in presets.items() if p.kind == "country" for r in p.regions}
                clash = sorted(r for r in preset.regions if r in taken)
                if clash:
                    # A second country preset could widen the first: add rules with kind = "sector" instead.
                    raise PresetError(f"{path}: regions: {', '.join(clash)} already have the country preset "
                                      f"{taken[clash[0]]!r}; make yours kind = \"sector\" (its rules then add to it)")
            presets[preset.name] = preset
            files[preset.name] = path
    if DEFAULT not in presets:
        raise PresetError(f"{BUILTIN_DIR}: the default preset file is missing (reinstall dialer)")
    return PresetCatalog(presets, read_area_codes(), files)


def catalog_for(dirs: tuple[Path, ...] = ()) -> PresetCatalog:
    """The catalog for these user folders, loaded again only when a file in them changed."""
    return _cached_catalog(dirs, tuple(_signature(folder) for folder in dirs))


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What identifies a folder's preset files' contents cheaply (names, sizes, modification times)."""
    try:
        stats = [(path.name, path.stat()) for path in folder.glob("*.toml")]
    except OSError:
        return ()
    return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats))


@lru_cache(maxsize=16)
def _cached_catalog(dirs: tuple[Path, ...], signature: tuple[object, ...]) -> PresetCatalog:
    return load_catalog(dirs)


def builtin_catalog() -> PresetCatalog:
    """The built-in presets only."""
    return catalog_for(())


@dataclass(frozen=True, slots=True)
class CountryPreset:
    """A country's calling window and where it comes from (the implicit preset of its numbers)."""

    name: str
    window: WeeklyWindow
    source: str


def preset_for(region: str, catalog: PresetCatalog | None = None) -> CountryPreset:
    """The calling-window preset for an ISO region code (the conservative default when unknown)."""
    catalog = catalog or builtin_catalog()
    preset = catalog.country(region)
    rule = catalog.country_window(region)
    source = f"{rule.source.authority}, {rule.source.section}: {rule.note}" if rule.note else (
        f"{rule.source.authority}, {rule.source.section}")
    return CountryPreset(preset.name, rule.hours.window, source)


def needs_debt_history(presets: Sequence[str], catalog: PresetCatalog) -> bool:
    """True when one of these presets caps calls per debt (the store then reads the debt history)."""
    return any(applied.rule.per == "debt" for applied in catalog.campaign_rules(presets, CapRule))
