"""Lead import: header mapping, encodings, delimiters, Excel, duplicates by policy, bad rows by line."""

from __future__ import annotations

import asyncio
import codecs
import csv as csv_module
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dialer.leads.importer as importer
from dialer.leads.csv_source import FIELD_LIMIT, CsvFormatError
from dialer.leads.errors_file import ErrorsFile
from dialer.leads.importer import DuplicatePolicy, ImportOptions, ImportReport, LeadInput, import_file, import_rows
from dialer.leads.sources import open_source
from dialer.store import Database


def csv_file(tmp_path: Path, text: str, name: str = "leads.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def run_import(tmp_path: Path, source: Path | str, db_name: str = "d.db", *, encoding: str | None = None,
                     delimiter: str | None = None, errors: ErrorsFile | None = None, campaign: str = "c",
                     **options: Any) -> ImportReport:
    options.setdefault("default_region", "US")
    with open_source(source, encoding=encoding, delimiter=delimiter) as lead_source:
        async with Database.open(tmp_path / db_name) as db:
            return await import_file(db, campaign, lead_source, ImportOptions(**options), 1000.0, errors=errors)


async def people(tmp_path: Path, db_name: str = "d.db") -> dict[str, tuple[Any, ...]]:
    """number -> (contact name, attributes, lead priority, list name)."""
    async with Database.open(tmp_path / db_name) as db:
        rows = await db.fetchall(
            "SELECT l.number, c.name, c.attributes, l.priority, ll.name AS list FROM leads l "
            "JOIN phone_numbers p ON p.number = l.number JOIN contacts c ON c.id = p.contact_id "
            "LEFT JOIN lead_lists ll ON ll.id = l.list_id ORDER BY l.number")
    return {r[0]: (r[1], json.loads(r[2]), r[3], r[4]) for r in rows}


GOOD = """Phone,First Name,Last Name,Customer ID,priority
(415) 555-2671,Ada,Lovelace,C1,2
+1 212 555 0199,Alan,Turing,C2,
415-555-2671,,,C1b,5
"""


async def test_columns_are_mapped_by_header_and_duplicates_merged(tmp_path):
    report = await run_import(tmp_path, csv_file(tmp_path, GOOD))
    assert (report.rows, report.numbers, report.duplicates, report.bad_count) == (3, 2, 1, 0)
    found = await people(tmp_path)
    assert found["+14155552671"] == ("Ada Lovelace", {"customer_id": "C1b"}, 5, "leads.csv")
    assert found["+12125550199"][0] == "Alan Turing"


@pytest.mark.parametrize(("policy", "name", "attributes", "priority"), [
    (DuplicatePolicy.MERGE, "Ada L", {"city": "Bern", "tier": "gold"}, 5),
    (DuplicatePolicy.KEEP_FIRST, "Ada", {"city": "Zürich", "tier": "gold"}, 5),
    (DuplicatePolicy.KEEP_LAST, "Ada L", {"city": "Bern"}, 1),
])
async def test_the_duplicate_policy_decides_and_the_report_counts(tmp_path, policy, name, attributes, priority):
    text = "phone,name,city,tier,priority\n4155552671,Ada,Zürich,gold,5\n4155552671,Ada L,Bern,,1\n"
    report = await run_import(tmp_path, csv_file(tmp_path, text), duplicates=policy)
    assert report.duplicates == 1
    assert report.policy is policy
    assert (await people(tmp_path))["+14155552671"][:3] == (name, attributes, priority)


@pytest.mark.parametrize(("policy", "name", "list_name"), [
    (DuplicatePolicy.MERGE, "Ada Again", "second"), (DuplicatePolicy.KEEP_FIRST, "Ada", "first"),
    (DuplicatePolicy.KEEP_LAST, "Ada Again", "second"),
])
async def test_a_number_already_on_record_meets_the_same_policy(tmp_path, policy, name, list_name):
    await run_import(tmp_path, csv_file(tmp_path, "phone,name,city\n4155552671,Ada,Bern\n", "a.csv"), list_name="first")
    report = await run_import(tmp_path, csv_file(tmp_path, "phone,name\n4155552671,Ada Again\n", "b.csv"),
                              list_name="second", duplicates=policy)
    assert report.result is not None
    assert (report.result.new_leads, report.result.existing_leads) == (0, 1)
    found = (await people(tmp_path))["+14155552671"]
    assert (found[0], found[3]) == (name, list_name)
    if policy is DuplicatePolicy.MERGE:
        assert found[1] == {"city": "Bern"}  # attributes combined


async def test_each_bad_row_is_reported_with_its_line_and_reason(tmp_path):
    text = (
        'number,name,note\n'
        '4155552671,Ok,"multi\nline note"\n'
        '911,Emergency,\n'
        ',Nobody,\n'
        '4155552672,Too,many,fields\n'
        '4155552673&Local/1@x,Evil,\n'
        '2125550199,Fine,\n'
    )
    report = await run_import(tmp_path, csv_file(tmp_path, text))
    assert [str(b) for b in report.bad] == [
        "line 4: number: not a valid number",
        "line 5: number: empty",
        "line 6: row: expected 3 fields, found 4",
        "line 7: number: number contains characters that are not allowed",
    ]
    assert set(await people(tmp_path)) == {"+14155552671", "+12125550199"}


async def test_a_number_valid_in_another_region_says_so(tmp_path):
    report = await run_import(tmp_path, csv_file(tmp_path, "phone\n020 7946 0959\n030 901820\n"))
    assert str(report.bad[0]) == ("line 2: number: not a valid US number, but a valid GB number: write it with +44, "
                                  "or import with --region GB (or a region column)")
    assert "7946" not in str(report.bad[0])  # the number itself never goes to stderr
    again = await run_import(tmp_path, csv_file(tmp_path, "phone\n020 7946 0959\n"), "gb.db", default_region="GB")
    assert again.bad_count == 0


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("name,email\nAda,a@example.org\n", "line 1: header: no number column"),
    ("phone,phone\n1,2\n", "line 1: header: column names repeat: phone"),
])
async def test_a_file_that_cannot_be_read_is_refused_whole(tmp_path, text, message):
    with pytest.raises(CsvFormatError, match=message):
        await run_import(tmp_path, csv_file(tmp_path, text))


async def test_semicolons_tabs_and_pipes_are_found_from_the_header(tmp_path):
    for i, sep in enumerate((";", "\t", "|")):
        text = f"phone{sep}name{sep}city\n4155552671{sep}Ada, Countess{sep}London\n"
        report = await run_import(tmp_path, csv_file(tmp_path, text, f"{i}.csv"), f"{i}.db")
        assert report.bad_count == 0, sep
        assert (await people(tmp_path, f"{i}.db"))["+14155552671"][:2] == ("Ada, Countess", {"city": "London"})


async def test_a_wrong_delimiter_is_named_in_the_error(tmp_path):
    with pytest.raises(CsvFormatError, match="give it with --delimiter"):
        await run_import(tmp_path, csv_file(tmp_path, "phone;name\n4155552671;Ada\n"), delimiter=",")


async def test_invalid_utf8_is_refused_with_its_line_and_a_hint_and_read_with_encoding(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("phone,name\n4155552671,Ada\n4155552672,Zoë\n".encode("cp1252"))
    with pytest.raises(CsvFormatError, match=r"line 3: byte 0xeb is not UTF-8 text; give the file's encoding "
                                             r"with --encoding \(Excel and Windows programs often write cp1252"):
        await run_import(tmp_path, path)
    report = await run_import(tmp_path, path, encoding="cp1252")
    assert report.bad_count == 0
    assert (await people(tmp_path))["+14155552672"][0] == "Zoë"


@pytest.mark.parametrize("codec", ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"])
async def test_unicode_files_with_a_byte_order_mark_are_detected(tmp_path, codec):
    text = "phone\tname\r\n4155552671\tZoë Åström\r\n4155552672\t\"multi\r\nline\"\r\n"
    bom = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE}.get(codec, b"")
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + text.encode(codec))
    report = await run_import(tmp_path, path)
    assert report.bad_count == 0
    found = await people(tmp_path)
    assert found["+14155552671"][0] == "Zoë Åström"
    assert found["+14155552672"][0] == "multi\r\nline"


async def test_utf16_without_a_byte_order_mark_gets_a_hint(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("phone,name\n4155552671,Ada\n".encode("utf-16-le"))
    with pytest.raises(CsvFormatError, match="looks like UTF-16 without a byte-order mark: give --encoding utf-16-le"):
        await run_import(tmp_path, path)
    assert (await run_import(tmp_path, path, encoding="utf-16-le")).numbers == 1


async def test_an_excel_workbook_is_read_with_numbers_as_digits(tmp_path):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Phone", "Name", "Joined", "Score"])
    sheet.append([4155552671, "Ada", "2026-01-02", 1.5])  # a number cell: no ".0" in the number
    sheet.append(["+1 212 555 0199", "Alan", None, 2])
    sheet.append(["not a number", "Bad", None, None])
    path = tmp_path / "leads.xlsx"
    book.save(path)
    report = await run_import(tmp_path, path.rename(tmp_path / "no-extension"))
    assert [str(b) for b in report.bad] == ["line 4: number: number contains characters that are not allowed"]
    found = await people(tmp_path)
    assert found["+14155552671"][:2] == ("Ada", {"joined": "2026-01-02", "score": "1.5"})
    assert found["+12125550199"][1] == {"score": "2"}


async def test_a_file_that_is_not_a_workbook_but_looks_like_one_is_one_line(tmp_path):
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(CsvFormatError, match="looks like a workbook but cannot be read"):
        await run_import(tmp_path, path)


async def test_a_field_over_the_limit_rejects_its_row_not_the_file(tmp_path):
    huge = "x" * (FIELD_LIMIT + 1)
    text = f"phone,note\n4155552671,ok\n4155552672,{huge}\n4155552673,\"never closed\n4155552674,fine\n"
    report = await run_import(tmp_path, csv_file(tmp_path, text))
    assert [b.line for b in report.bad] == [3]
    assert "more than the 131,072 a field may have" in report.bad[0].reason
    assert set(await people(tmp_path)) == {"+14155552671", "+14155552673"}


async def test_an_unclosed_quote_is_named_when_it_swallows_the_rest(tmp_path):
    text = "phone,note\n4155552671,\"open\n" + "".join(f"41555{i:05d},x\n" for i in range(20_000))
    report = await run_import(tmp_path, csv_file(tmp_path, text))
    assert report.bad_count == 1
    assert "a quote opened and never closed?" in report.bad[0].reason
    assert report.bad[0].field == "note"


async def test_the_errors_file_holds_the_rows_as_they_came_and_imports_once_fixed(tmp_path):
    text = "phone;name;city\n4155552671;Ada;Bern\n020 7946 0959;Bob;London\n;Carol;Paris\n(415) 555-26;Dan;Rome\n"
    errors_path = tmp_path / "rejected.csv"
    report = await run_import(tmp_path, csv_file(tmp_path, text), errors=ErrorsFile(errors_path))
    assert report.bad_count == 3
    assert oct(errors_path.stat().st_mode & 0o777) == "0o600"
    rows = list(csv_module.reader(io.StringIO(errors_path.read_text(encoding="utf-8")), delimiter=";"))
    assert rows[0] == ["import_line", "import_error", "phone", "name", "city"]
    assert [r[0] for r in rows[1:]] == ["3", "4", "5"]
    assert rows[1][2:] == ["020 7946 0959", "Bob", "London"]  # as it came in
    assert rows[2][1] == "number: empty"
    fixed = [rows[0], [rows[1][0], rows[1][1], "+44 20 7946 0959", *rows[1][3:]],
             [rows[2][0], rows[2][1], "4155552672", *rows[2][3:]], [rows[3][0], rows[3][1], "(415) 555-2673", "Dan",
                                                                    "Rome"]]
    with errors_path.open("w", encoding="utf-8", newline="") as handle:
        csv_module.writer(handle, delimiter=";").writerows(fixed)
    again = await run_import(tmp_path, errors_path)
    assert again.bad_count == 0
    found = await people(tmp_path)
    assert found["+442079460959"][:2] == ("Bob", {"city": "London"})  # import_line/import_error are not attributes
    assert set(found) == {"+14155552671", "+442079460959", "+14155552672", "+14155552673"}


async def test_a_broken_file_or_strict_mode_writes_nothing(tmp_path):
    path = big_csv(tmp_path, 3000)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(path.read_bytes() + b"4155550000,\xff\xfe,1\n")
    errors_path = tmp_path / "rejected.csv"
    with pytest.raises(CsvFormatError, match="not UTF-8"):
        await run_import(tmp_path, broken, errors=ErrorsFile(errors_path))
    assert not errors_path.exists()
    assert not errors_path.with_name("rejected.csv.part").exists()
    refused = await run_import(tmp_path, path, strict=True)
    assert refused.result is None
    assert refused.bad_count == 1
    async with Database.open(tmp_path / "d.db") as db:
        counts = [(await db.fetchone(f"SELECT COUNT(*) FROM {t}"))[0]
                  for t in ("contacts", "leads", "campaigns", "lead_lists")]
    assert counts == [0, 0, 0, 0]


def big_csv(tmp_path: Path, rows: int) -> Path:
    """A file large enough for worker processes, with duplicates across chunks and bad rows."""
    lines = ["phone,name,tier"]
    for i in range(rows):
        lines.append(f"(415) 555-{i % 7000:04d},Person {i},{i % 3}")  # numbers repeat after 7,000 rows
    lines[5] = "not a number,Bad,0"
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_workers_and_many_chunks_give_the_same_result_as_one_pass(tmp_path, monkeypatch):
    path = big_csv(tmp_path, 30_000)
    one = await run_import(tmp_path, path, "one.db", workers=1)
    monkeypatch.setattr(importer, "PARALLEL_THRESHOLD_BYTES", 100)
    monkeypatch.setattr(importer, "CHUNK", 1000)
    many = await run_import(tmp_path, path, "many.db", workers=2)
    assert await people(tmp_path, "one.db") == await people(tmp_path, "many.db")
    assert len(await people(tmp_path, "many.db")) == 7000  # the bad row's number comes back in later rows
    assert (many.rows, many.numbers, many.duplicates) == (one.rows, one.numbers, one.duplicates) == (
        30_000, 7000, 30_000 - 1 - 7000)
    assert [str(b) for b in many.bad] == ["line 6: number: number contains characters that are not allowed"]
    # The last row of each number wins: "Person 29xxx" and its tier.
    assert next(iter((await people(tmp_path, "many.db")).values()))[0].startswith("Person 2")


async def test_rows_given_as_data_follow_the_same_rules_as_a_file(tmp_path):
    leads = [LeadInput("4155552671", name="Ada", attributes={"city": "Bern"}, priority=1),
             LeadInput("(415) 555-2671", name="Ada L", priority=3), LeadInput("nope")]
    async with Database.open(tmp_path / "d.db") as db:
        report = await import_rows(db, "c", leads, ImportOptions("US", list_name="mqtt"), 1.0)
    assert (report.numbers, report.duplicates, report.bad_count) == (1, 1, 1)
    assert (await people(tmp_path))["+14155552671"] == ("Ada L", {"city": "Bern"}, 3, "mqtt")


def test_standard_input_is_imported_like_a_file(tmp_path, monkeypatch):
    class Stdin:
        buffer = io.BytesIO(b"phone,name\n4155552671,Ada\n")

    monkeypatch.setattr("sys.stdin", Stdin())
    report = asyncio.run(run_import(tmp_path, "-"))
    assert report.numbers == 1
    assert report.list_name == "stdin"


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.text(alphabet='ab1 ,"\n\r-', max_size=6), min_size=3, max_size=3), max_size=30),
    st.lists(st.sampled_from(['x,y"z,1', "", 'q,"r",s']), max_size=3),
    st.integers(1, 5),
)
def test_chunked_reading_gives_exactly_the_rows_of_one_pass(tmp_path_factory, rows, odd_lines, chunk):
    """Splitting a file into record chunks (for the worker processes) must never change a row."""
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
async def test_any_line_ending_reads_the_same(tmp_path, ending):
    text = ending.join(["phone,name", "4155552671,Ada", '2125550199,"Alan', 'T."', "6175550100,Grace"]) + ending
    path = tmp_path / "leads.csv"
    path.write_bytes(text.encode())
    report = await run_import(tmp_path, path)
    assert report.bad_count == 0
    assert sorted(p[0] for p in (await people(tmp_path)).values()) == ["Ada", f"Alan{ending}T.", "Grace"]
