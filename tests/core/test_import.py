"""Lead import: header mapping, normalisation, duplicates merged, bad rows reported by line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.leads.csv_source import CsvFormatError
from dialer.leads.importer import prepare_import, write_import
from dialer.store import Database


def csv_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """Phone,First Name,Last Name,Customer ID,priority
(415) 555-2671,Ada,Lovelace,C1,2
+1 212 555 0199,Alan,Turing,C2,
415-555-2671,,,C1b,5
"""


def test_columns_are_mapped_by_header_and_duplicates_merged(tmp_path):
    plan = prepare_import(csv_file(tmp_path, GOOD), "US")
    assert plan.rows == 3
    assert plan.merged == 1
    assert not plan.bad
    ada = plan.leads["+14155552671"]
    assert ada.name == "Ada Lovelace"
    assert ada.attributes == {"customer_id": "C1b"}
    assert ada.priority == 5
    assert plan.leads["+12125550199"].number.zones == ("America/New_York",)


def test_each_bad_row_is_reported_with_its_line_and_reason(tmp_path):
    text = (
        'number,name,note\n'
        '4155552671,Ok,"multi\nline note"\n'
        '911,Emergency,\n'
        ',Nobody,\n'
        '4155552672,Too,many,fields\n'
        '4155552673&Local/1@x,Evil,\n'
        '2125550199,Fine,\n'
    )
    plan = prepare_import(csv_file(tmp_path, text), "US")
    assert [str(b) for b in plan.bad] == [
        "line 4: number: not a valid number",
        "line 5: number: empty",
        "line 6: row: expected 3 fields, found 4",
        "line 7: number: number contains characters that are not allowed",
    ]
    assert set(plan.leads) == {"+14155552671", "+12125550199"}


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("name,email\nAda,a@example.org\n", "line 1: header: no number column"),
    ("phone,phone\n1,2\n", "line 1: header: column names repeat: phone"),
])
def test_a_file_that_cannot_be_read_is_refused_whole(tmp_path, text, message):
    with pytest.raises(CsvFormatError, match=message):
        prepare_import(csv_file(tmp_path, text), "US")


def test_invalid_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(b"phone\n4155552671\n\xff\xfe\n")
    with pytest.raises(CsvFormatError, match="not UTF-8"):
        prepare_import(path, "US")


async def test_import_writes_contacts_numbers_and_leads_in_one_transaction(tmp_path):
    plan = prepare_import(csv_file(tmp_path, GOOD), "US")
    async with Database.open(tmp_path / "d.db") as db:
        first = await write_import(db, "spring", plan, 1000.0)
        again = await write_import(db, "spring", plan, 2000.0)
        other = await write_import(db, "autumn", plan, 3000.0)
        contacts = await db.fetchall("SELECT name, attributes FROM contacts ORDER BY name")
        leads = await db.fetchall("SELECT campaign_id, number, priority FROM leads ORDER BY campaign_id, number")
    assert (first.new_leads, first.new_contacts) == (2, 2)
    assert (again.new_leads, again.existing_leads, again.new_contacts) == (0, 2, 0)
    assert (other.new_leads, other.new_contacts, other.updated_contacts) == (2, 0, 2)
    assert sorted(c["name"] for c in contacts) == ["Ada Lovelace", "Alan Turing"]
    assert json.loads(contacts[0]["attributes"]) == {"customer_id": "C1b"}
    assert len(leads) == 4


async def test_a_failed_write_leaves_nothing_behind(tmp_path):
    plan = prepare_import(csv_file(tmp_path, GOOD), "US")
    plan.leads["+14155552671"].number = None  # type: ignore[assignment]  # breaks the write midway
    async with Database.open(tmp_path / "d.db") as db:
        with pytest.raises(AttributeError):
            await write_import(db, "spring", plan, 1000.0)
        counts = [(await db.fetchone(f"SELECT COUNT(*) FROM {t}"))[0] for t in ("contacts", "leads", "campaigns")]
    assert counts == [0, 0, 0]


def test_large_files_normalise_in_parallel_with_the_same_result(tmp_path):
    lines = ["phone"] + [f"(415) 555-{i:04d}" for i in range(3000)] + ["bad"] * 3
    path = csv_file(tmp_path, "\n".join(lines) + "\n")
    import dialer.leads.importer as importer

    serial = prepare_import(path, "US", workers=1)
    old = importer.PARALLEL_THRESHOLD_BYTES
    importer.PARALLEL_THRESHOLD_BYTES = 100
    try:
        parallel = prepare_import(path, "US", workers=2)
    finally:
        importer.PARALLEL_THRESHOLD_BYTES = old
    assert set(serial.leads) == set(parallel.leads)
    assert [str(b) for b in serial.bad] == [str(b) for b in parallel.bad]


def big_csv(tmp_path: Path, rows: int) -> Path:
    """A file large enough for worker processes, with duplicates across chunks and bad rows."""
    lines = ["phone,name,tier"]
    for i in range(rows):
        lines.append(f"(415) 555-{i % 7000:04d},Person {i},{i % 3}")  # numbers repeat after 7,000 rows
    lines[5] = "not a number,Bad,0"
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_streaming_import_writes_the_same_as_the_two_step_import(tmp_path):
    import dialer.leads.importer as importer
    from dialer.leads.importer import import_csv

    path = big_csv(tmp_path, 30_000)
    old = (importer.PARALLEL_THRESHOLD_BYTES, importer.CHUNK)
    importer.PARALLEL_THRESHOLD_BYTES, importer.CHUNK = 100, 1000  # workers, and many chunks
    try:
        async with Database.open(tmp_path / "a.db") as db:
            report = await import_csv(db, "c", path, "US", 1.0, workers=2)
            streamed = [tuple(r) for r in await db.fetchall(
                "SELECT l.number, l.priority, c.name, c.attributes FROM leads l JOIN phone_numbers p "
                "ON p.number = l.number JOIN contacts c ON c.id = p.contact_id ORDER BY l.number")]
        plan = prepare_import(path, "US", workers=1)
        async with Database.open(tmp_path / "b.db") as db:
            await write_import(db, "c", plan, 1.0)
            two_step = [tuple(r) for r in await db.fetchall(
                "SELECT l.number, l.priority, c.name, c.attributes FROM leads l JOIN phone_numbers p "
                "ON p.number = l.number JOIN contacts c ON c.id = p.contact_id ORDER BY l.number")]
    finally:
        importer.PARALLEL_THRESHOLD_BYTES, importer.CHUNK = old
    assert streamed == two_step
    assert len(streamed) == 7000  # the bad row's number comes back in later rows
    assert report.result is not None
    assert report.result.new_leads == 7000
    assert report.merged == 30_000 - 1 - 7000
    assert [str(b) for b in report.bad] == ["line 6: number: number contains characters that are not allowed"]
    # The last row of each number wins: "Person 29xxx" and its tier.
    assert streamed[0][2].startswith("Person 2")


async def test_a_broken_file_or_strict_mode_writes_nothing(tmp_path):
    from dialer.leads.importer import import_csv

    path = big_csv(tmp_path, 3000)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(path.read_bytes() + b"4155550000,\xff\xfe,1\n")
    async with Database.open(tmp_path / "d.db") as db:
        with pytest.raises(CsvFormatError, match="not UTF-8"):
            await import_csv(db, "c", broken, "US", 1.0)
        refused = await import_csv(db, "c", path, "US", 1.0, strict=True)
        counts = [(await db.fetchone(f"SELECT COUNT(*) FROM {t}"))[0] for t in ("contacts", "leads", "campaigns")]
    assert refused.result is None
    assert len(refused.bad) == 1
    assert counts == [0, 0, 0]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.text(alphabet='ab1 ,"\n\r-', max_size=6), min_size=3, max_size=3), max_size=30),
    st.lists(st.sampled_from(['x,y"z,1', "", 'q,"r",s']), max_size=3),
    st.integers(1, 5),
)
def test_chunked_reading_gives_exactly_the_rows_of_one_pass(tmp_path_factory, rows, odd_lines, chunk):
    """Splitting a file into record chunks (for the worker processes) must never change a row."""
    import csv as csv_module
    import io

    from dialer.leads.csv_source import RecordChunk, open_leads, parse_chunk, read_leads, split_records

    buffer = io.StringIO()
    writer = csv_module.writer(buffer)
    writer.writerow(["phone", "name", "note"])
    for row in rows:
        writer.writerow(row)
    text = buffer.getvalue() + "".join(line + "\n" for line in odd_lines)
    path = tmp_path_factory.mktemp("split") / "f.csv"
    path.write_text(text, encoding="utf-8", newline="")
    columns, start = open_leads(path)
    whole = read_leads(path)
    chunked = [row for part in split_records(path, start, chunk) for row in parse_chunk(part, columns)]
    assert chunked == whole
    assert isinstance(RecordChunk(2, b""), RecordChunk)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_any_line_ending_reads_the_same(tmp_path, ending):
    text = ending.join(["phone,name", "4155552671,Ada", '2125550199,"Alan', 'T."', "6175550100,Grace"]) + ending
    path = tmp_path / "leads.csv"
    path.write_bytes(text.encode())
    plan = prepare_import(path, "US")
    assert sorted(lead.name for lead in plan.leads.values()) == ["Ada", f"Alan{ending}T.", "Grace"]
    assert [lead.line for lead in sorted(plan.leads.values(), key=lambda lead: lead.line)] == [2, 3, 5]
