"""Loading preset files: the built-in ones are complete, a user's folder adds presets, and every
mistake in a file is one message naming the file and the key."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from dialer.compliance.preset_catalog import (
    PresetError,
    builtin_catalog,
    load_catalog,
    read_area_codes,
    read_preset,
)
from dialer.compliance.preset_model import WindowRule
from dialer.numbers import normalise

GOOD = """
name = "acme-energy"
title = "Acme's own rules for energy sales"
kind = "sector"
regions = ["US"]
last_checked = 2026-11-30

[[rules]]
id = "hours"
type = "window"
hours = { mon = ["10:00-18:00"] }
source = { authority = "Acme compliance handbook", section = "s. 4.2", in_force = 2025-01-01 }
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_every_builtin_rule_names_its_source_and_last_check():
    catalog = builtin_catalog()
    assert {"us", "ca", "gb", "de", "fr", "in", "au", "br", "cn", "default", "us-states", "cn-insurance",
            "us-debt-collection", "gb-ofcom"} <= set(catalog.names())
    for name in catalog.names():
        for rule in catalog.get(name).rules:
            assert len(rule.source.authority) > 3, (name, rule.id)
            assert rule.source.section, (name, rule.id)
            assert date(1980, 1, 1) < rule.source.in_force <= rule.last_checked, (name, rule.id)


def test_the_us_territories_follow_the_us_preset_and_unknown_countries_the_default():
    catalog = builtin_catalog()
    assert catalog.country("PR").name == "us"
    assert catalog.country("JP").name == "default"
    assert catalog.country_window("GB").hours.window.describe() == "Mon–Fri 09:00–20:00; Sat 09:00–17:00"


def test_the_area_code_table_places_numbers_in_states():
    table = read_area_codes()
    assert table["305"] == ("FL",)
    assert table["405"] == ("OK",)
    assert table["201"] == ("NJ", "NY")  # the geocoder places one 201 prefix in New York
    assert builtin_catalog().states_of(normalise("+12065550123", "US")) == ("WA",)
    assert builtin_catalog().states_of(normalise("+14165550123", "CA")) == ()  # not a US number


def test_a_users_folder_adds_presets(tmp_path):
    write(tmp_path / "mine", "acme-energy", GOOD)
    catalog = load_catalog([tmp_path / "mine"])
    preset = catalog.get("acme-energy")
    assert preset.rules_of(WindowRule)[0].last_checked == date(2026, 11, 30)  # inherited from the file
    assert catalog.files["acme-energy"] == tmp_path / "mine" / "acme-energy.toml"
    assert "us-states" in catalog.names()


@pytest.mark.parametrize(("text", "message"), [
    (GOOD.replace('type = "window"', 'type = "window"\ncolour = "red"'), "rules[hours].colour: unknown key"),
    (GOOD.replace("in_force = 2025-01-01", 'in_force = "soon"'), "rules[hours].source.in_force: Input should be"),
    (GOOD.replace('"10:00-18:00"', '"18:00-10:00"'), "rules[hours].hours.mon: calling hours '18:00-10:00' end before"),
    (GOOD.replace('type = "window"', 'type = "curfew"'), "rules[hours]: Input tag 'curfew'"),
    (GOOD.replace('regions = ["US"]', 'regions = ["us"]'), "regions: 'us' is not an ISO 3166 region code"),
    (GOOD.replace('name = "acme-energy"', 'name = "acme"'), "name: 'acme' differs from the file name"),
    (GOOD.replace("last_checked = 2026-11-30\n", ""), "rules[hours].last_checked: Field required"),
    (GOOD + "[[rules]\n", "not valid TOML"),
])
def test_a_mistake_in_a_preset_file_names_the_file_and_the_key(tmp_path, text, message):
    path = write(tmp_path, "acme-energy", text)
    with pytest.raises(PresetError) as caught:
        read_preset(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_user_preset_may_not_take_a_builtin_name(tmp_path):
    write(tmp_path / "mine", "us-states", GOOD.replace("acme-energy", "us-states"))
    with pytest.raises(PresetError, match=r"already defined by .*us-states\.toml; give yours another name"):
        load_catalog([tmp_path / "mine"])


def test_a_missing_folder_is_an_error(tmp_path):
    with pytest.raises(PresetError, match="not a folder of preset files"):
        load_catalog([tmp_path / "nowhere"])


def test_the_presets_page_lists_every_builtin_preset_rule_and_section():
    page = (Path(__file__).parents[3] / "docs" / "POLICY_PRESETS.md").read_text()
    assert "Not legal advice" in page
    assert "[presets]" in page  # how to add your own
    catalog = builtin_catalog()
    for name in catalog.names():
        assert f"### `{name}` (" in page, name
        for rule in catalog.get(name).rules:
            assert f"| `{rule.id}` |" in page, (name, rule.id)
            assert rule.source.section in page, (name, rule.id)


def test_a_second_country_preset_for_a_region_is_refused(tmp_path):
    wide = GOOD.replace('kind = "sector"', 'kind = "country"').replace('"10:00-18:00"', '"00:00-24:00"')
    write(tmp_path / "mine", "acme-energy", wide)
    with pytest.raises(PresetError, match="regions: US already have the country preset 'us'; make yours kind"):
        load_catalog([tmp_path / "mine"])
