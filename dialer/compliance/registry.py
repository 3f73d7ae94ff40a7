"""National DNC registries: a streaming builder for large flat files and a compact mmap'd index.

Numbers are keys: the E.164 digits as an integer (never ambiguous, since E.164 never starts with
0). The sorted unique keys are stored relative to the smallest one and split by their high bits:

    lows   the low `low_bits` (8, 16 or 32) bits of every key, sorted, 1/2/4 bytes each
    mid    for each bucket of 2**low_bits keys, where it starts inside its superblock (u16 or u32)
    top    for each superblock of 256 buckets, where it starts in `lows` (u64), plus the total

A lookup reads top[] and mid[] to find its bucket's slice of `lows` and binary-searches the low
bits there (a few entries). The US registry (about 250 M numbers in 8e9 possible keys) takes
8 + 2 = 10 bits per number with 8 low bits: ~1.25 bytes, 1.5x the information-theoretic floor
of ~0.84 bytes (log2 C(1e10, 2.5e8) bits, ~210 MB). `low_bits` is chosen per file to minimise the
size, so sparse registries (UK TPS, one per line) get 16-bit lows and tiny offset arrays instead.

File: magic, header length, CRC-32 of the body, a JSON header, then the three arrays, each 64-byte
aligned. `build_registry` writes it to a temporary file next to the target and `os.replace`s it
in; a failed import raises RegistryImportError (file and line, never the number) and leaves the
old file untouched. `Registry.load` maps it read-only; the old Registry keeps serving from its own
mapping until the caller swaps the new one in (`DncIndex.set_registry`).
"""

from __future__ import annotations

import bisect
import contextlib
import json
import mmap
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
import numpy.typing as npt

from dialer.numbers import PhoneNumber

MAGIC = b"DNCREG1\n"
FORMAT_VERSION = 1
_PREAMBLE = struct.Struct("<8sII")  # magic, header length, crc32 of everything after the header
_ALIGN = 64
SUPER_BITS = 8  # buckets per superblock = 256
_CHUNK_BYTES = 64 << 20  # source bytes parsed per numpy pass
_KEY_CHUNK = 1 << 24  # keys per pass when deriving the index

KeyArray = npt.NDArray[np.uint64]

# The US National DNC Registry covers the states and the territories phonenumbers names apart,
# not the rest of the NANP (Canada and the Caribbean have their own lists, or none).
US_REGISTRY_REGIONS = ("AS", "GU", "MP", "PR", "US", "VI")


class RegistryFormat(StrEnum):
    """Source file layouts the builder reads."""

    LINES = "lines"  # one number per line: "+<E.164 digits>", or national significant number digits
    US_CSV = "us_csv"  # the US National DNC Registry download: "AAA,NNNNNNN" (area code, number)


class RegistryError(Exception):
    """A registry file that cannot be loaded (missing, truncated, corrupt, wrong format)."""


class RegistryImportError(RegistryError):
    """A source file that cannot be imported, with the file and the 1-based line to look at."""

    def __init__(self, path: Path | str, line: int | None, reason: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = str(path)
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RegistryInfo:
    """What a registry file holds, for status output and the age rule."""

    name: str
    country_code: int
    regions: tuple[str, ...]  # regions the registry covers; () = every region of its country code
    data_as_of: datetime
    count: int
    low_bits: int
    file_bytes: int
    source: str  # the source file's name (not its path)


# ---------------------------------------------------------------------------------------------
# Parsing source files, vectorised: a Python loop over 250 M lines would take minutes.


@dataclass(frozen=True, slots=True)
class _Spec:
    fmt: RegistryFormat
    country_code: int
    trunk_prefix: str


def _iter_chunks(handle: BinaryIO) -> Iterator[bytes]:
    """Yield blocks of whole lines (the last one may lack its newline)."""
    rest = b""
    while True:
        block = handle.read(_CHUNK_BYTES)
        if not block:
            if rest:
                yield rest + b"\n"
            return
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        rest = block[cut:]
        yield block[:cut]


def _digits_value(buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], width: int) -> KeyArray:
    """The integer value of `width` ASCII digits at each start (caller has checked they are digits)."""
    value = np.zeros(len(starts), dtype=np.uint64)
    for offset in range(width):
        value *= np.uint64(10)
        value += (buf[starts + offset] - 48).astype(np.uint64)
    return value


def _all_digits(
    buf: npt.NDArray[np.uint8], starts: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.bool_]:
    ok = np.ones(len(starts), dtype=bool)
    for offset in range(width):
        c = buf[starts + offset]
        ok &= (c >= 48) & (c <= 57)
    return ok


def _parse_block(block: bytes, spec: _Spec, first_line: int, skip_header: bool) -> tuple[KeyArray, int]:
    """Keys of every line in `block`; raises _BadLine(index, reason) for the first bad line."""
    buf = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    line_count = len(ends)
    has_cr = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
    ends = ends - has_cr
    lengths = ends - starts
    keep = lengths > 0  # blank lines carry nothing
    if skip_header and line_count and lengths[0] > 0 and not _has_digit(block[starts[0] : ends[0]]):
        keep[0] = False  # a first line without digits is a column header ("AreaCode,PhoneNumber")
    index = np.flatnonzero(keep)
    keys = np.empty(len(index), dtype=np.uint64)
    bad = np.zeros(len(index), dtype=bool)
    reason = np.zeros(len(index), dtype=np.uint8)
    if spec.fmt is RegistryFormat.US_CSV:
        _parse_us_csv(buf, starts[index], lengths[index], keys, bad, reason)
    else:
        _parse_lines(buf, starts[index], lengths[index], spec, keys, bad, reason)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise _BadLine(first_line + int(index[first]), _REASONS[spec.fmt][int(reason[first])])
    return keys, line_count


def _has_digit(text: bytes) -> bool:
    return any(48 <= c <= 57 for c in text)


_REASONS = {
    RegistryFormat.US_CSV: {
        1: "expected AAA,NNNNNNN (3-digit area code, comma, 7-digit number)",
        2: "area code and exchange must start with a digit 2-9 (NANP)",
    },
    RegistryFormat.LINES: {
        1: "expected one number per line: digits, optionally a leading +",
        2: "number has the wrong length for E.164 (7 to 15 digits with the country code)",
        3: "number is not in this registry's country code",
    },
}


class _BadLine(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _parse_us_csv(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    keys: KeyArray,
    bad: npt.NDArray[np.bool_],
    reason: npt.NDArray[np.uint8],
) -> None:
    shaped = lengths == 11
    ok = shaped.copy()
    s = starts[shaped]
    ok[shaped] = (buf[s + 3] == 44) & _all_digits(buf, s, 3) & _all_digits(buf, s + 4, 7)
    bad |= ~ok
    reason[~ok] = 1
    s = starts[ok]
    nanp = (buf[s] >= 50) & (buf[s + 4] >= 50)  # N in NXX: 2-9
    area = _digits_value(buf, s, 3)
    local = _digits_value(buf, s + 4, 7)
    keys[ok] = np.uint64(10**10) + area * np.uint64(10**7) + local  # +1 AAA NNN NNNN
    not_nanp = np.flatnonzero(ok)[~nanp]
    bad[not_nanp] = True
    reason[not_nanp] = 2


def _parse_lines(
    buf: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    lengths: npt.NDArray[np.int64],
    spec: _Spec,
    keys: KeyArray,
    bad: npt.NDArray[np.bool_],
    reason: npt.NDArray[np.uint8],
) -> None:
    cc_text = str(spec.country_code)
    plus = buf[starts] == 43
    body_starts = starts + plus
    body_lengths = lengths - plus
    trunk = spec.trunk_prefix
    if trunk:
        # A national number written with its trunk prefix ("0" in GB, DE, FR, AU): drop it.
        has_trunk = ~plus & (body_lengths > len(trunk))
        for i, ch in enumerate(trunk.encode()):
            has_trunk &= buf[np.minimum(body_starts + i, len(buf) - 1)] == ch
        body_starts = body_starts + has_trunk * len(trunk)
        body_lengths = body_lengths - has_trunk * len(trunk)
    # E.164 digits (country code included) per line; national lines get the country code added.
    total = np.where(plus, body_lengths, body_lengths + len(cc_text))
    for width in np.unique(body_lengths).tolist():
        rows = np.flatnonzero(body_lengths == width)
        if width <= 0 or width > 15:
            bad[rows] = True
            reason[rows] = 1 if width <= 0 else 2
            continue
        digits_ok = _all_digits(buf, body_starts[rows], width)
        bad[rows[~digits_ok]] = True
        reason[rows[~digits_ok]] = 1
        rows = rows[digits_ok]
        length_ok = (total[rows] >= 7) & (total[rows] <= 15)
        bad[rows[~length_ok]] = True
        reason[rows[~length_ok]] = 2
        rows = rows[length_ok]
        if not len(rows):
            continue
        value = _digits_value(buf, body_starts[rows], width)
        national = ~plus[rows]
        if national.any():
            keys[rows[national]] = np.uint64(spec.country_code * 10**width) + value[national]
        international = rows[~national]
        if not len(international):
            continue
        keys[international] = value[~national]
        # "+<cc>…": the leading digits must be this registry's country code.
        in_cc = (buf[body_starts[international]] != 48) & (
            value[~national] // np.uint64(10 ** (width - len(cc_text))) == np.uint64(spec.country_code)
        )
        bad[international[~in_cc]] = True
        reason[international[~in_cc]] = 3


def _read_keys(source: Path, spec: _Spec, on_progress: Callable[[int], None] | None = None) -> KeyArray:
    """Every key in the file, sorted and unique; `on_progress(bytes_read)` after each block."""
    parts: list[KeyArray] = []
    line = 1
    done = 0
    try:
        with source.open("rb") as handle:
            for block in _iter_chunks(handle):
                try:
                    keys, lines = _parse_block(block, spec, line, skip_header=line == 1)
                except _BadLine as exc:
                    raise RegistryImportError(source, exc.line, exc.reason) from None
                parts.append(keys)
                line += lines
                done += len(block)
                if on_progress is not None:
                    on_progress(done)
    except OSError as exc:
        raise RegistryImportError(source, None, f"cannot read: {exc.strerror or exc}") from exc
    keys = np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)
    del parts
    keys.sort()
    if len(keys) > 1:
        distinct = np.empty(len(keys), dtype=bool)
        distinct[0] = True
        np.not_equal(keys[1:], keys[:-1], out=distinct[1:])
        if not distinct.all():
            keys = keys[distinct]
    return keys


# ---------------------------------------------------------------------------------------------
# The index layout.


@dataclass(frozen=True, slots=True)
class _Layout:
    low_bits: int
    mid_dtype: str  # "u2" or "u4"
    n_buckets: int  # padded to a whole number of superblocks
    n_super: int

    @property
    def bytes_needed(self) -> int:
        """Bytes of the offset arrays (mid and top) for this layout."""
        return self.n_buckets * np.dtype(self.mid_dtype).itemsize + (self.n_super + 1) * 8


_LOW_DTYPES = {8: "u1", 16: "u2", 32: "u4"}
_VIEW_FORMATS: dict[int, Literal["B", "H", "I"]] = {8: "B", 16: "H", 32: "I"}  # memoryview formats of the same


def _layout(span: int, count: int, low_bits: int) -> _Layout:
    buckets = (span >> low_bits) + 1
    n_super = (buckets + (1 << SUPER_BITS) - 1) >> SUPER_BITS
    # A bucket's start within its superblock is at most the superblock's count: u16 when it fits.
    max_within = min(count, ((1 << SUPER_BITS) - 1) << low_bits)
    mid_dtype = "u2" if max_within < 1 << 16 else "u4"
    return _Layout(low_bits, mid_dtype, n_super << SUPER_BITS, n_super)


def choose_low_bits(span: int, count: int) -> int:
    """The low-bit width (8, 16 or 32) that makes the smallest index for these keys."""
    sizes = {bits: count * bits // 8 + _layout(span, count, bits).bytes_needed for bits in _LOW_DTYPES}
    return min(sizes, key=lambda bits: sizes[bits])


def _write_index(
    out: BinaryIO, keys: KeyArray, low_bits: int | None, header: dict[str, object]
) -> tuple[int, int]:
    """Write header and arrays of `keys` (sorted, unique); returns (low_bits, bytes written)."""
    count = len(keys)
    base = int(keys[0]) if count else 0
    span = int(keys[-1]) - base if count else 0
    bits = low_bits or choose_low_bits(span, count)
    if bits not in _LOW_DTYPES:
        raise ValueError("low_bits must be 8, 16 or 32")
    layout = _layout(span, count, bits)
    # Bucket counts, chunk by chunk, so no array the size of `keys` is made besides `keys`.
    counts = np.zeros(layout.n_buckets, dtype=np.int64)
    for i in range(0, count, _KEY_CHUNK):
        rel = keys[i : i + _KEY_CHUNK] - np.uint64(base)
        counts += np.bincount((rel >> np.uint64(bits)).astype(np.int64), minlength=layout.n_buckets)
    starts = np.zeros(layout.n_buckets + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    del counts
    top = starts[:: 1 << SUPER_BITS].astype("<u8")  # n_super + 1 entries, the last is `count`
    mid = (
        (starts[:-1].reshape(layout.n_super, 1 << SUPER_BITS) - top[:-1, None].astype(np.int64))
        .astype("<" + layout.mid_dtype)
        .ravel()
    )
    del starts
    low_dtype = "<" + _LOW_DTYPES[bits]
    low_mask = np.uint64((1 << bits) - 1)

    arrays: dict[str, list[int]] = {}
    meta = {
        **header,
        "version": FORMAT_VERSION,
        "count": count,
        "base": base,
        "span": span,
        "low_bits": bits,
        "mid_dtype": layout.mid_dtype,
        "n_super": layout.n_super,
    }
    sizes = {"top": top.nbytes, "mid": mid.nbytes, "lows": count * np.dtype(low_dtype).itemsize}
    # Offsets depend on the header's length, which depends on the offsets: fix them with a
    # generously padded header size.
    header_room = _ALIGN * 32
    offset = _PREAMBLE.size + header_room
    for name in ("top", "mid", "lows"):
        arrays[name] = [offset, sizes[name]]
        offset += -(-sizes[name] // _ALIGN) * _ALIGN
    meta["arrays"] = arrays
    header_bytes = json.dumps(meta, sort_keys=True).encode()
    if len(header_bytes) > header_room:
        raise RegistryError("registry header too large (name or regions too long)")
    header_bytes = header_bytes.ljust(header_room, b" ")

    out.write(_PREAMBLE.pack(MAGIC, header_room, 0))  # the CRC is patched in at the end
    out.write(header_bytes)
    crc = 0
    position = _PREAMBLE.size + header_room

    def emit(data: bytes | memoryview) -> None:
        """Write and checksum the body."""
        nonlocal crc, position
        out.write(data)
        crc = zlib.crc32(data, crc)
        position += len(data)

    for name, chunks in (
        ("top", [top.data.cast("B")]),
        ("mid", [mid.data.cast("B")]),
        ("lows", _low_chunks(keys, base, low_mask, low_dtype)),
    ):
        start = arrays[name][0]
        if position < start:
            emit(b"\0" * (start - position))
        for chunk in chunks:
            emit(chunk)
    emit(b"\0" * (-position % _ALIGN))
    out.seek(0)
    out.write(_PREAMBLE.pack(MAGIC, header_room, crc))
    return bits, position


def _low_chunks(keys: KeyArray, base: int, low_mask: np.uint64, dtype: str) -> Iterator[memoryview]:
    for i in range(0, len(keys), _KEY_CHUNK):
        lows = ((keys[i : i + _KEY_CHUNK] - np.uint64(base)) & low_mask).astype(dtype)
        yield lows.data.cast("B")


def build_registry(
    source: Path | str,
    target: Path | str,
    *,
    name: str,
    fmt: RegistryFormat,
    data_as_of: datetime,
    country_code: int = 1,
    regions: tuple[str, ...] = (),
    trunk_prefix: str = "",
    low_bits: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RegistryInfo:
    """Import a registry file into the compact form at `target`, atomically; returns what it holds.

    `data_as_of` is the date the registry's data was published (timezone-aware); the age rule
    compares it with now. A bad line raises RegistryImportError naming the file and line, and
    `target` keeps its previous contents. `on_progress(bytes_read)` reports the reading.
    """
    source, target = Path(source), Path(target)
    if data_as_of.tzinfo is None:
        raise ValueError("data_as_of must be timezone-aware")
    if fmt is RegistryFormat.US_CSV and country_code != 1:
        raise ValueError("the US CSV format is for country code 1")
    if fmt is RegistryFormat.US_CSV and not regions:
        regions = US_REGISTRY_REGIONS
    spec = _Spec(RegistryFormat(fmt), country_code, trunk_prefix)
    keys = _read_keys(source, spec, on_progress)
    header: dict[str, object] = {
        "name": name,
        "country_code": country_code,
        "regions": sorted(r.upper() for r in regions),
        "data_as_of": data_as_of.isoformat(),
        "source": source.name,
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w+b") as out:
            bits, size = _write_index(out, keys, low_bits, header)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)  # the old file serves until this instant
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return RegistryInfo(
        name=name,
        country_code=country_code,
        regions=tuple(sorted(r.upper() for r in regions)),  # as written in the header
        data_as_of=data_as_of,
        count=len(keys),
        low_bits=bits,
        file_bytes=size,
        source=source.name,
    )


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Loading and lookups.


def file_checksum(path: Path | str) -> str:
    """The CRC-32 a registry file carries for its body ("crc32:xxxxxxxx"), read from its preamble."""
    with Path(path).open("rb") as handle:
        preamble = handle.read(_PREAMBLE.size)
    if len(preamble) < _PREAMBLE.size:
        raise RegistryError(f"{path}: not a registry file (too short)")
    magic, _, crc = _PREAMBLE.unpack(preamble)
    if magic != MAGIC:
        raise RegistryError(f"{path}: not a registry file (bad magic)")
    return f"crc32:{crc:08x}"


def e164_key(e164: str) -> int:
    """The lookup key of a strict E.164 string ("+14155550123" -> 14155550123)."""
    return int(e164[1:])


def e164_keys(numbers: list[str]) -> KeyArray:
    """Keys of many strict E.164 strings, for `Registry.contains_many`."""
    return np.fromiter((int(n[1:]) for n in numbers), dtype=np.uint64, count=len(numbers))


class Registry:
    """A loaded registry: answers "is this number listed?" one at a time or in batches."""

    def __init__(self, path: Path, mapping: mmap.mmap, meta: dict[str, Any]) -> None:
        self.path = path
        self._mmap: mmap.mmap | None = mapping
        self.name = str(meta["name"])
        self.country_code = int(meta["country_code"])
        self.regions: tuple[str, ...] = tuple(meta["regions"])
        self.data_as_of = datetime.fromisoformat(str(meta["data_as_of"]))
        self.count = int(meta["count"])
        self.low_bits = int(meta["low_bits"])
        self.source = str(meta.get("source", ""))
        self.file_bytes = len(mapping)
        self._base = int(meta["base"])
        self._span = int(meta["span"])
        self._cc_prefix = str(self.country_code)
        arrays: dict[str, list[int]] = meta["arrays"]
        mid_dtype = "<" + str(meta["mid_dtype"])
        n_super = int(meta["n_super"])
        self._top = np.frombuffer(mapping, "<u8", n_super + 1, arrays["top"][0])
        self._mid = np.frombuffer(mapping, mid_dtype, n_super << SUPER_BITS, arrays["mid"][0])
        self._lows = np.frombuffer(mapping, "<" + _LOW_DTYPES[self.low_bits], self.count, arrays["lows"][0])
        # memoryviews index faster than numpy arrays from Python code (single lookups).
        self._top_v = self._top.data.cast("B").cast("Q")
        self._mid_v = self._mid.data.cast("B").cast("H" if mid_dtype.endswith("2") else "I")
        self._lows_v = self._lows.data.cast("B").cast(_VIEW_FORMATS[self.low_bits])
        self._shift = self.low_bits
        self._low_mask = (1 << self.low_bits) - 1
        self._bucket_mask = (1 << SUPER_BITS) - 1

    @classmethod
    def load(cls, path: Path | str, *, verify: bool = True) -> Registry:
        """Map a registry file; with `verify`, check its CRC (reads it all, warming the page cache)."""
        path = Path(path)
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < _PREAMBLE.size:
                    raise RegistryError(f"{path}: not a registry file (too short)")
                mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except OSError as exc:
            raise RegistryError(f"{path}: cannot open ({exc.strerror or exc})") from exc
        magic, header_len, crc = _PREAMBLE.unpack_from(mapping, 0)
        if magic != MAGIC:
            raise RegistryError(f"{path}: not a registry file (bad magic)")
        try:
            meta = json.loads(bytes(mapping[_PREAMBLE.size : _PREAMBLE.size + header_len]))
        except ValueError as exc:
            raise RegistryError(f"{path}: unreadable registry header") from exc
        if meta.get("version") != FORMAT_VERSION:
            raise RegistryError(f"{path}: unsupported registry version {meta.get('version')!r}")
        end = max(offset + length for offset, length in meta["arrays"].values())
        if end > size:
            raise RegistryError(f"{path}: truncated ({size} bytes, needs {end})")
        if verify:
            body = memoryview(mapping)[_PREAMBLE.size + header_len :]
            actual = 0
            step = 64 << 20
            for i in range(0, len(body), step):
                actual = zlib.crc32(body[i : i + step], actual)
            body.release()
            if actual != crc:
                raise RegistryError(f"{path}: checksum mismatch (file corrupt or partly written)")
        registry = cls(path, mapping, meta)
        if registry._top[0] != 0 or int(registry._top[-1]) != registry.count:
            raise RegistryError(f"{path}: inconsistent index")
        return registry

    @property
    def info(self) -> RegistryInfo:
        """What this registry holds."""
        return RegistryInfo(
            self.name, self.country_code, self.regions, self.data_as_of, self.count, self.low_bits,
            self.file_bytes, self.source,
        )  # fmt: skip

    def covers(self, number: PhoneNumber) -> bool:
        """True if this registry is the one for `number`'s country (and region, when it names some)."""
        if not number.digits.startswith(self._cc_prefix):
            return False
        return not self.regions or number.region in self.regions

    def contains_key(self, key: int) -> bool:
        """True if the key (E.164 digits as an integer) is listed."""
        rel = key - self._base
        if rel < 0 or rel > self._span:
            return False
        bucket = rel >> self._shift
        sup = bucket >> SUPER_BITS
        first = self._top_v[sup]
        start = first + self._mid_v[bucket]
        end = (
            self._top_v[sup + 1]
            if bucket & self._bucket_mask == self._bucket_mask
            else first + self._mid_v[bucket + 1]
        )
        if start == end:
            return False
        low = rel & self._low_mask
        lows = self._lows_v
        i = bisect.bisect_left(lows, low, start, end)
        return i < end and lows[i] == low

    def contains(self, e164: str) -> bool:
        """True if the strict E.164 number is listed."""
        return self.contains_key(int(e164[1:]))

    def contains_many(self, keys: KeyArray, chunk: int = 1 << 20) -> npt.NDArray[np.bool_]:
        """Membership of many keys at once (vectorised; for scrubbing lists)."""
        keys = np.asarray(keys, dtype=np.uint64)
        out = np.zeros(len(keys), dtype=bool)
        if self.count == 0:
            return out
        for i in range(0, len(keys), chunk):
            out[i : i + chunk] = self._contains_chunk(keys[i : i + chunk])
        return out

    def _contains_chunk(self, keys: KeyArray) -> npt.NDArray[np.bool_]:
        base = np.uint64(self._base)
        inside = (keys >= base) & (keys <= base + np.uint64(self._span))
        rel = np.where(inside, keys - base, np.uint64(0)).astype(np.int64)
        bucket = rel >> self._shift
        sup = bucket >> SUPER_BITS
        first = self._top[sup].astype(np.int64)
        lo = first + self._mid[bucket]
        last_in_super = (bucket & self._bucket_mask) == self._bucket_mask
        next_mid = self._mid[np.minimum(bucket + 1, len(self._mid) - 1)]
        hi = np.where(last_in_super, self._top[sup + 1].astype(np.int64), first + next_mid)
        hi = np.where(inside, hi, lo)  # empty range for keys outside the registry
        end = hi.copy()
        low = (rel & self._low_mask).astype(self._lows.dtype)
        lows = self._lows
        top_index = len(lows) - 1
        # Binary search in every bucket at once; buckets are small, so a few rounds suffice.
        while True:
            active = lo < hi
            if not active.any():
                break
            middle = (lo + hi) >> 1
            below = lows[np.minimum(middle, top_index)] < low
            go_right = active & below
            go_left = active & ~below
            lo = np.where(go_right, middle + 1, lo)
            hi = np.where(go_left, middle, hi)
        found: npt.NDArray[np.bool_] = lo < end
        found[found] = lows[lo[found]] == low[found]
        return found

    def close(self) -> None:
        """Release the mapping (only once nothing else uses this registry)."""
        for view in (self._top_v, self._mid_v, self._lows_v):
            view.release()
        self._top = self._mid = self._lows = np.zeros(0, dtype=np.uint8)
        if self._mmap is not None:
            # A batch result may still view the mapping; then the GC closes it later.
            with contextlib.suppress(BufferError):
                self._mmap.close()
            self._mmap = None
