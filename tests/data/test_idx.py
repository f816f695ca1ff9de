"""The IDX reader: round trips, and a named error for every kind of damaged file."""

import gzip

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygen.data import IDXError, parse_idx, read_idx, write_idx

IDX_DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@given(array=hnp.arrays(st.sampled_from(IDX_DTYPES),
                        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                        elements={"allow_nan": False}),
       compress=st.booleans())
def test_write_then_read_idx_round_trips(tmp_path_factory, array, compress):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    loaded = read_idx(path)
    assert loaded.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(loaded, array)


def test_read_idx_recognises_gzip_by_content_not_name(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "no-suffix"
    write_idx(path, array, compress=True)
    np.testing.assert_array_equal(read_idx(path), array)


def test_missing_idx_file_raises_file_not_found_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")


@pytest.mark.parametrize(("damage", "message"), [
    (lambda raw: raw[:3], "truncated IDX header"),
    (lambda raw: b"\x01\x00" + raw[2:], "bad IDX magic"),
    (lambda raw: raw[:2] + b"\x42" + raw[3:], "unknown IDX dtype"),
    (lambda raw: raw[:6], "truncated IDX header"),
    (lambda raw: raw[:-1], "IDX body truncated"),
    (lambda raw: raw + b"\x00", "trailing bytes"),
])
def test_damaged_idx_raises_idx_error_naming_the_file(tmp_path, damage, message):
    path = tmp_path / "broken.idx"
    write_idx(path, np.zeros((2, 3), dtype=np.uint8))
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(IDXError, match=message) as error:
        read_idx(path)
    assert "broken.idx" in str(error.value)


def test_truncated_gzip_raises_idx_error_naming_the_file(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(bytes(1000))[:-10])
    with pytest.raises(IDXError, match="cut.gz.*gzip"):
        read_idx(path)


def test_parse_idx_reads_big_endian_values():
    raw = bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big") + (1).to_bytes(4, "big") \
        + (-2).to_bytes(4, "big", signed=True)
    np.testing.assert_array_equal(parse_idx(raw), [1, -2])
