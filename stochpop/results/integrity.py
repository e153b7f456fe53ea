"""Proof that a directory of stored results is whole: a record of every file's size and CRC-32C, written
into the directory before it is renamed into place (so the record and the files appear together), and
checked before the files are read.

A directory without its record is unfinished, or was written by a stochpop that kept none. CRC-32C (the
checksum Google Cloud Storage and iSCSI verify data with; hardware-accelerated by `google-crc32c`, which zarr
requires) catches accidental damage - lost, truncated or altered bytes - at about 10 GB/s per core, eight
times SHA-256's speed here, so verifying a store costs a small share of computing it.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np

Content = bytes | np.ndarray
"""File contents: bytes, or a 1-d uint8 array of them (zarr's buffers, not copied)."""
RECORD = "integrity.json"
BLOCK = 2**22
"""Bytes read at a time when a stored file is checked."""


class StoreError(RuntimeError):
    """Stored results cannot be written or read as they are; the message is one line naming the piece."""


class IntegrityError(StoreError):
    """Stored results are damaged or incomplete; the message names the damaged pieces."""


def checksum(content: Content) -> str:
    """CRC-32C of `content`, 8 hexadecimal digits."""
    return f"{google_crc32c.value(content):08x}"


def file_checksum(path: Path) -> str:
    """CRC-32C of the file at `path`, 8 hexadecimal digits, read in blocks of `BLOCK` bytes."""
    crc = google_crc32c.Checksum()
    with open(path, "rb") as file:
        while block := file.read(BLOCK):
            crc.update(block)
    return crc.hexdigest().decode()


def write_record(directory: Path, files: Mapping[str, Content], **facts: Any) -> None:
    """Record, in `directory/RECORD`, the size and CRC-32C of `files` (relative name -> the content just
    written there) and `facts` (JSON-serialisable, e.g. the path range a chunk holds)."""
    entries = {name: {"size": len(content), "crc32c": checksum(content)} for name, content in files.items()}
    (directory / RECORD).write_text(json.dumps({**facts, "files": entries}))


def read_record(directory: Path) -> dict[str, Any] | None:
    """The record of `directory`, or None if it has none (or an unreadable one)."""
    try:
        record = json.loads((directory / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and isinstance(record.get("files"), dict) else None


def damaged_files(directory: Path, record: dict[str, Any]) -> dict[str, str]:
    """{relative file name: what is wrong with it} for every file of `record` that is missing, of another
    size or of other content under `directory`; empty if the directory is whole."""
    problems = {}
    for name, expected in record["files"].items():
        path = directory / name
        if not path.is_file():
            problems[name] = "missing"
        elif (size := path.stat().st_size) != expected["size"]:
            problems[name] = f"{size} bytes, {expected['size']} written"
        elif file_checksum(path) != expected["crc32c"]:
            problems[name] = "content changed since written"
    return problems
