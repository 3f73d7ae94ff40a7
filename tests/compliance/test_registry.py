"""National registries: building from flat files, atomic swaps, lookups, age warnings and blocks."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.compliance import (
    DncIndex,
    Registry,
    RegistryError,
    RegistryFormat,
    RegistryImportError,
    build_gate,
    build_registry,
)
from dialer.compliance.registry import choose_low_bits, e164_keys

from .helpers import OPEN_POLICY, request, utc

AS_OF = utc(2025, 7, 1)
NOW = utc(2025, 7, 8, 15)


def us_csv(path: Path, numbers: list[str], header: bool = False) -> Path:
    """Write `numbers` (10-digit NANP) in the US registry's AAA,NNNNNNN layout."""
    lines = [f"{n[:3]},{n[3:]}\n" for n in numbers]
    path.write_text(("AreaCode,PhoneNumber\n" if header else "") + "".join(lines))
    return path


def build_us(tmp_path: Path, numbers: list[str], name: str = "us-dnc", **kw) -> Path:
    source = us_csv(tmp_path / f"{name}.csv", numbers)
    target = tmp_path / f"{name}.reg"
    build_registry(
        source, target, name=name, fmt=RegistryFormat.US_CSV, data_as_of=kw.pop("as_of", AS_OF), **kw
    )
    return target


def test_builds_from_the_us_csv_layout(tmp_path):
    source = us_csv(tmp_path / "us.csv", ["2025550123", "4155550123", "2025550123"], header=True)
    info = build_registry(
        source, tmp_path / "us.reg", name="us-dnc", fmt=RegistryFormat.US_CSV, data_as_of=AS_OF
    )
    assert info.count == 2  # duplicates collapse
    assert "US" in info.regions
    registry = Registry.load(tmp_path / "us.reg")
    assert registry.contains("+12025550123")
    assert registry.contains("+14155550123")
    assert not registry.contains("+12025550124")
    assert registry.data_as_of == AS_OF


def test_builds_from_one_number_per_line(tmp_path):
    source = tmp_path / "tps.txt"
    source.write_text("+442079460000\r\n02079460001\n2079460002\n\n+442079460003")
    info = build_registry(
        source, tmp_path / "tps.reg", name="gb-tps", fmt=RegistryFormat.LINES, data_as_of=AS_OF,
        country_code=44, trunk_prefix="0",
    )  # fmt: skip
    assert info.count == 4
    registry = Registry.load(tmp_path / "tps.reg")
    assert all(registry.contains(f"+44207946000{i}") for i in range(4))
    assert not registry.contains("+442079460004")
    assert not registry.contains("+12079460001")


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("201,2000000\n201,20000x0\n", 2, "expected AAA,NNNNNNN"),
        ("201,2000000\n201;2000000\n", 2, "expected AAA,NNNNNNN"),
        ("201,2000000\n\n101,2000000\n", 3, "NANP"),
        ("201,2000000\n201,1000000\n", 2, "NANP"),
        ("201,2000000\n201,20000000\n", 2, "expected AAA,NNNNNNN"),
        ("AreaCode,PhoneNumber\n201,2000000\n201 ,2000000\n", 3, "expected AAA,NNNNNNN"),
    ],
)
def test_a_bad_line_is_reported_with_its_file_and_line(tmp_path, content, line, reason):
    source = tmp_path / "bad.csv"
    source.write_text(content)
    with pytest.raises(RegistryImportError, match=reason) as caught:
        build_registry(source, tmp_path / "x.reg", name="x", fmt=RegistryFormat.US_CSV, data_as_of=AS_OF)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{source}:{line}: ")
    assert "2000000" not in str(caught.value)  # never the number itself


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("+442079460000\n+14155550123\n", "country code"),
        ("+442079460000\n+44 2079460000\n", "digits"),
        ("+442079460000\n12\n", "length"),
        ("+442079460000\n1234567890123456789012\n", "length"),
    ],
)
def test_a_bad_line_in_a_list_file_is_reported(tmp_path, content, reason):
    source = tmp_path / "bad.txt"
    source.write_text(content)
    with pytest.raises(RegistryImportError, match=reason) as caught:
        build_registry(
            source, tmp_path / "x.reg", name="x", fmt=RegistryFormat.LINES, data_as_of=AS_OF, country_code=44
        )
    assert caught.value.line == 2


def test_a_failed_import_leaves_the_old_registry_serving(tmp_path):
    target = build_us(tmp_path, ["2025550123"])
    before = target.read_bytes()
    index = DncIndex()
    index.load_registry(target)
    bad = tmp_path / "bad.csv"
    bad.write_text("4155550123\n")
    with pytest.raises(RegistryImportError):
        build_registry(bad, target, name="us-dnc", fmt=RegistryFormat.US_CSV, data_as_of=AS_OF)
    assert target.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    assert index.registry_hit("+12025550123") is not None


def test_a_new_registry_is_swapped_in_atomically_and_the_old_one_serves_until_then(tmp_path):
    target = build_us(tmp_path, ["2025550123"])
    index = DncIndex()
    old = index.load_registry(target)
    inode = os.stat(target).st_ino
    build_us(tmp_path, ["4155550123"])  # replaces the file under the loaded mapping
    assert os.stat(target).st_ino != inode  # a new file renamed into place, not rewritten
    assert old.contains("+12025550123")  # the old mapping still reads the old data
    assert index.registry_hit("+14155550123") is None
    index.load_registry(target)
    assert index.registry_hit("+14155550123") is not None
    assert index.registry_hit("+12025550123") is None
    assert len(index.registries) == 1


def test_a_corrupt_or_truncated_file_is_refused_and_the_old_one_kept(tmp_path):
    target = build_us(tmp_path, ["2025550123", "4155550123"])
    index = DncIndex()
    index.load_registry(target)
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    corrupt = tmp_path / "corrupt.reg"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(RegistryError, match="checksum"):
        index.load_registry(corrupt)
    truncated = tmp_path / "short.reg"
    truncated.write_bytes(target.read_bytes()[:-70])
    with pytest.raises(RegistryError, match="truncated"):
        Registry.load(truncated)
    (tmp_path / "junk.reg").write_bytes(b"hello world, not a registry")
    with pytest.raises(RegistryError, match="not a registry"):
        Registry.load(tmp_path / "junk.reg")
    assert index.registry_hit("+14155550123") is not None


def test_an_unreadable_source_is_a_clear_error(tmp_path):
    with pytest.raises(RegistryImportError, match="cannot read"):
        build_registry(tmp_path / "missing.csv", tmp_path / "x.reg", name="x", fmt="us_csv", data_as_of=AS_OF)


def test_the_gate_blocks_registry_numbers(tmp_path):
    index = DncIndex()
    index.load_registry(build_us(tmp_path, ["2025550123"]))
    gate = build_gate(OPEN_POLICY, index)
    decision = gate.check(request("+12025550123"), NOW)
    assert (decision.rule, decision.retry_at) == ("dnc.registry", None)
    assert "us-dnc" in decision.detail
    assert gate.check(request("+14155550123"), NOW).allowed


def test_a_fresh_registry_passes_the_age_rule(tmp_path):
    index = DncIndex()
    index.load_registry(build_us(tmp_path, ["2025550123"], as_of=NOW - timedelta(days=31)))
    decision = build_gate(OPEN_POLICY, index).check(request("+14155550123"), NOW, explain=True)
    assert decision.allowed
    assert not decision.warnings


def test_a_stale_registry_blocks_calls_to_its_country_and_says_how_to_fix_it(tmp_path):
    index = DncIndex()
    index.load_registry(build_us(tmp_path, ["2025550123"], as_of=NOW - timedelta(days=32)))
    gate = build_gate(OPEN_POLICY, index)
    decision = gate.check(request("+14155550123"), NOW)
    assert decision.rule == "dnc.registry_age"
    assert "32 days old" in decision.detail
    assert "load a fresh registry" in decision.detail or "fresh registry file is loaded" in decision.detail
    assert decision.campaign_wide
    assert decision.retry_at == NOW.timestamp() + OPEN_POLICY.campaign_recheck_s
    # Numbers of other countries are not covered by the US registry.
    assert gate.check(request("+16135550123", "CA"), NOW).allowed
    assert gate.check(request("+442079460000", "GB"), NOW).allowed


def test_a_stale_registry_warns_during_the_grace_period_then_blocks(tmp_path):
    policy = OPEN_POLICY.model_copy(update={"registry_grace_days": 5})
    index = DncIndex()
    index.load_registry(build_us(tmp_path, ["2025550123"], as_of=NOW - timedelta(days=33)))
    gate = build_gate(policy, index)
    decision = gate.check(request("+14155550123", policy=policy), NOW)
    assert decision.allowed
    (warning,) = decision.warnings
    assert "33 days old" in warning
    assert "grace period until 2025-07-11T15:00:00Z" in warning  # 31 + 5 days after the data date
    later = NOW + timedelta(days=3, seconds=1)
    assert gate.check(request("+14155550123", policy=policy), later).rule == "dnc.registry_age"


def test_a_policy_can_require_a_registry_for_a_region(tmp_path):
    policy = OPEN_POLICY.model_copy(update={"required_registry_regions": ("US",)})
    index = DncIndex()
    gate = build_gate(policy, index)
    decision = gate.check(request("+14155550123", policy=policy), NOW)
    assert decision.rule == "dnc.registry_age"
    assert "no national DNC registry loaded for US" in decision.detail
    index.load_registry(build_us(tmp_path, ["2025550123"]))
    assert gate.check(request("+14155550123", policy=policy), NOW).allowed


def test_low_bits_are_chosen_by_density():
    assert choose_low_bits(8_000_000_000, 250_000_000) == 8  # the US registry: dense
    assert choose_low_bits(10_000_000_000, 20_000_000) == 16  # a sparse national list
    assert choose_low_bits(10**14, 1000) == 32


# Membership must match a Python set exactly: random sets with duplicates, numbers on bucket and
# superblock boundaries (multiples of 256 and 65536 from the first key), first and last keys.
offsets = st.one_of(
    st.integers(0, 3_000_000),
    st.integers(0, 40).map(lambda k: k * 256 + 255),
    st.integers(0, 40).map(lambda k: k * 256),
    st.integers(0, 40).map(lambda k: k * 65536 - 1 if k else 0),
    st.integers(0, 40).map(lambda k: k * 65536),
)
BASE = 2_012_000_000  # +1 201 200 0000: a valid NANP start


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(offsets, max_size=300),
    extra=st.lists(offsets, max_size=100),
    low_bits=st.sampled_from([None, 8, 16, 32]),
)
def test_registry_membership_matches_a_python_set(members, extra, low_bits):
    keys = sorted({BASE + m for m in members})
    reference = {10_000_000_000 + k for k in keys}
    with tempfile.TemporaryDirectory() as tmp:
        target = build_us(Path(tmp), [str(k) for k in [BASE + m for m in members]], low_bits=low_bits)
        registry = Registry.load(target)
        probes = (
            {BASE + o for o in extra} | set(keys) | {k + d for k in keys[:1] + keys[-1:] for d in (-1, 1)}
        )
        probes |= {BASE - 1, 0, 9_999_999_999}
        probe_keys = sorted(10_000_000_000 + p for p in probes)
        single = [registry.contains_key(k) for k in probe_keys]
        batch = registry.contains_many(np.array(probe_keys, dtype=np.uint64))
        expected = [k in reference for k in probe_keys]
        assert single == expected
        assert batch.tolist() == expected
        assert registry.count == len(reference)


def test_an_empty_registry_contains_nothing(tmp_path):
    registry = Registry.load(build_us(tmp_path, []))
    assert registry.count == 0
    assert not registry.contains("+12025550123")
    assert not registry.contains_many(np.array([12025550123], dtype=np.uint64)).any()


def test_e164_keys_are_the_digits_as_integers():
    assert e164_keys(["+12025550123", "+442079460000"]).tolist() == [12025550123, 442079460000]
