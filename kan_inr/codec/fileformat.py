"""The ``.kinr`` file: an INR's quantised, entropy-coded weights and what is needed to render them.

Layout (little-endian), format version 1:

    magic      4 bytes  b"KINR"
    version    u8
    sizes      3 x u32  header, quantiser table, payload byte counts
    header     zlib-compressed JSON (a preset dictionary of its usual words makes it ~60 bytes):
               family, model config, image shape, channels, bit depth, target range, coordinate
               convention, quantiser settings (files of kan-inr 0.1.0 may also hold ``"box": 0``: a
               codec network is fitted to point pixels, so 0 is the only value, and it is ignored)
    table      per tensor: symbol model (u8 shape, f32 scale) and its quantiser step(s) (f32 each)
    payload    the range-coded integers (entropy.py)
    checksum   u32 CRC-32 of everything before it

``unpack`` trusts nothing: the magic, the version, that the sizes add up to the file's length, the
checksum, a bound on the decompressed header, and every header field's type and range are checked
before anything is built; what the table and payload must hold follows from the header and is
checked by ``weights.py`` against the network built on the meta device, before allocating it.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kan_inr.errors import KanInrError
from kan_inr.codec.quant import MAX_BITS

MAGIC = b"KINR"
VERSION = 1
MAX_FILE_BYTES = 1 << 30
MAX_HEADER_BYTES = 1 << 16  # decompressed JSON header
MAX_SIDE = 1 << 16
MAX_PIXELS = 1 << 28
_PREFIX = struct.Struct("<4sB3I")
_CRC = struct.Struct("<I")
# zlib preset dictionary: the header's usual keys and values, so a header costs bytes, not a kilobit
_ZDICT = json.dumps({"family": "fkan sl2a siren", "config": {"grid_size": 0, "hidden_dim": 0, "block_dims": [],
                                                            "omega": 30.0, "degree": 0, "rank": 0, "hidden_layers": 3,
                                                            "first_omega": 30.0, "hidden_omega": 30.0},
                     "shape": [256, 256], "channels": 3, "bit_depth": 8, "target_range": [-1.0, 1.0],
                     "coords": "endpoints", "quant": {"bits": 8, "vector_bits": 12, "per_channel": False}},
                    separators=(",", ":")).encode()


@dataclass(frozen=True)
class Container:
    header: dict[str, Any]
    table: bytes
    payload: bytes


def pack(container: Container) -> bytes:
    """The file's bytes."""
    compressor = zlib.compressobj(9, zdict=_ZDICT)
    header = compressor.compress(json.dumps(container.header, separators=(",", ":")).encode()) + compressor.flush()
    body = (_PREFIX.pack(MAGIC, VERSION, len(header), len(container.table), len(container.payload))
            + header + container.table + container.payload)
    return body + _CRC.pack(zlib.crc32(body))


def read(path: str | Path) -> Container:
    """``unpack`` a file, refusing one too large to be a .kinr before reading it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise KanInrError(f"{path}: {size:,} bytes is too large for a .kinr file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise KanInrError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise KanInrError(f"{path} is a directory, not a .kinr file") from None
    except OSError as exc:
        raise KanInrError(f"cannot read {path}: {exc.strerror or exc}") from None
    return unpack(data, str(path))


def unpack(data: bytes, name: str = "file") -> Container:
    """Parse and check a file's bytes (see the module docstring); any defect is one KanInrError."""
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        raise KanInrError(f"{name}: not a kan-inr compressed file (wrong magic)")
    if len(data) < _PREFIX.size + _CRC.size:
        raise KanInrError(f"{name}: truncated ({len(data)} bytes)")
    _, version, header_len, table_len, payload_len = _PREFIX.unpack_from(data)
    if version > VERSION:
        raise KanInrError(f"{name}: format version {version} is newer than this kan-inr reads ({VERSION}): upgrade kan-inr")
    if version < 1:
        raise KanInrError(f"{name}: unknown format version {version}")
    expected = _PREFIX.size + header_len + table_len + payload_len + _CRC.size
    if expected != len(data):
        what = "truncated" if expected > len(data) else "has trailing bytes"
        raise KanInrError(f"{name}: {what} (its sizes add up to {expected:,} bytes, the file has {len(data):,})")
    (crc,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[:-_CRC.size]) != crc:
        raise KanInrError(f"{name}: corrupt (checksum mismatch)")
    start = _PREFIX.size
    header = _parse_header(data[start:start + header_len], name)
    table = data[start + header_len:start + header_len + table_len]
    payload = data[start + header_len + table_len:-_CRC.size]
    return Container(header, table, payload)


def _parse_header(raw: bytes, name: str) -> dict[str, Any]:
    try:
        decompressor = zlib.decompressobj(zdict=_ZDICT)
        text = decompressor.decompress(raw, MAX_HEADER_BYTES)
        if decompressor.unconsumed_tail or not decompressor.eof:
            raise KanInrError(f"{name}: header is larger than {MAX_HEADER_BYTES} bytes or incomplete")
        header = json.loads(text)
    except (zlib.error, ValueError, RecursionError) as exc:
        raise KanInrError(f"{name}: unreadable header ({exc})") from None
    check_header(header, name)
    return header


def _is_int(value: Any, lo: int, hi: int) -> bool:
    return type(value) is int and lo <= value <= hi


def check_header(header: Any, name: str = "file") -> None:
    """Every field present, of its type and in its range (the model config is checked by weights.py)."""
    def bad(what: str) -> KanInrError:
        return KanInrError(f"{name}: bad header: {what}")

    keys = {"family", "config", "shape", "channels", "bit_depth", "target_range", "coords", "quant"}
    if not isinstance(header, dict) or not keys <= set(header) <= keys | {"box"}:  # box: some older files
        raise bad(f"expected the fields {', '.join(sorted(keys))}")
    if not _is_int(header.get("box", 0), 0, 0):
        raise bad("box must be 0 where present (a .kinr network renders point pixels)")
    if not isinstance(header["family"], str) or not isinstance(header["config"], dict):
        raise bad("family must be a name and config a table")
    shape = header["shape"]
    if (not isinstance(shape, list) or len(shape) != 2 or not all(_is_int(n, 1, MAX_SIDE) for n in shape)
            or shape[0] * shape[1] > MAX_PIXELS):
        raise bad(f"shape must be two sizes in 1..{MAX_SIDE} with at most {MAX_PIXELS:,} pixels, got {shape!r:.80}")
    if not _is_int(header["channels"], 1, 4):
        raise bad("channels must be 1..4")
    if header["bit_depth"] not in (8, 16) or type(header["bit_depth"]) is not int:
        raise bad("bit depth must be 8 or 16")
    rng = header["target_range"]
    if rng is not None and not (isinstance(rng, list) and len(rng) == 2
                                and all(type(v) in (int, float) and math.isfinite(v) for v in rng) and rng[0] < rng[1]):
        raise bad("target range must be null or two increasing finite numbers")
    if not isinstance(header["coords"], str):
        raise bad("coords must be a name")
    quant = header["quant"]
    if (not isinstance(quant, dict) or set(quant) != {"bits", "vector_bits", "per_channel"}
            or not _is_int(quant["bits"], 2, MAX_BITS) or not _is_int(quant["vector_bits"], 2, MAX_BITS)
            or type(quant["per_channel"]) is not bool):
        raise bad(f"quant must hold bits and vector_bits in 2..{MAX_BITS} and per_channel true/false")
