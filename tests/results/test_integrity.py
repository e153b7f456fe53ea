"""Integrity records: the checksum against its published check value, and a file read in blocks against
the same bytes in memory."""

import os

import stochpop.results.integrity as integrity


def test_crc32c_matches_the_published_check_value():
    # the check value of CRC-32C (Castagnoli; iSCSI, RFC 3720): its CRC of the ASCII digits "123456789"
    assert integrity.checksum(b"123456789") == "e3069283"


def test_a_file_read_in_blocks_has_the_checksum_of_its_bytes(tmp_path, monkeypatch):
    content = os.urandom(10_000)
    (tmp_path / "file").write_bytes(content)
    monkeypatch.setattr(integrity, "BLOCK", 999)  # many blocks, the last one partial
    assert integrity.file_checksum(tmp_path / "file") == integrity.checksum(content)
    integrity.write_record(tmp_path, {"file": content}, paths=[0, 5])
    record = integrity.read_record(tmp_path)
    assert record is not None and record["paths"] == [0, 5]
    assert integrity.damaged_files(tmp_path, record) == {}
    (tmp_path / "file").write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # one bit flipped
    assert integrity.damaged_files(tmp_path, record) == {"file": "content changed since written"}
