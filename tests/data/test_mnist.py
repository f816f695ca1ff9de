"""MNIST loading: the bundled split, a user directory, every file verified against its SHA-256
(with the verdict cached), and verified, resumable downloads from a local HTTP server on
127.0.0.1."""

import gzip
import hashlib
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from tinygen.data import (
    ChecksumError,
    IDXError,
    balanced_subset,
    binarize,
    binarized_split,
    default_split,
    download_file,
    load_mnist,
    mnist,
    write_idx,
)
from tinygen.data.mnist import BUNDLED_DIR, CHECKSUM_CACHE_ENV, FILES, SHA256


@pytest.fixture(autouse=True)
def checksum_cache(tmp_path, monkeypatch):
    """Each test's own verdict cache, so that no test sees another's verdicts."""
    path = tmp_path / "cache" / "checksums.json"
    monkeypatch.setenv(CHECKSUM_CACHE_ENV, str(path))
    return path


@pytest.fixture
def hashes(monkeypatch):
    """The files hashed (by name), in order: the cost the cache saves."""
    hashed = []
    real = mnist._sha256

    def counting(path):
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(mnist, "_sha256", counting)
    return hashed


# ----------------------------------------------------------------------------- bundled
def test_bundled_files_match_the_published_checksums():
    for name in FILES["test"]:
        digest = hashlib.sha256((BUNDLED_DIR / name).read_bytes()).hexdigest()
        assert digest == SHA256[name]


def test_load_mnist_defaults_to_the_bundled_test_split():
    images, labels = load_mnist()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert set(np.unique(labels)) == set(range(10))
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits


def test_default_split_is_first_8000_and_last_2000_of_t10k():
    images, labels = load_mnist("test")
    (train_x, train_y), (test_x, test_y) = default_split()
    np.testing.assert_array_equal(train_x, images[:8000])
    np.testing.assert_array_equal(train_y, labels[:8000])
    np.testing.assert_array_equal(test_x, images[8000:])
    np.testing.assert_array_equal(test_y, labels[8000:])


def test_unknown_split_names_argument_expected_and_actual():
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'val'"):
        load_mnist("val")


# ----------------------------------------------------------------------------- user directory
def _write_mnist(directory, split, count=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, count, dtype=np.uint8)
    names = [name if gz else name[:-3] for name in FILES[split]]
    write_idx(directory / names[0], images)
    write_idx(directory / names[1], labels)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_a_user_directory(tmp_path, gz):
    images, labels = _write_mnist(tmp_path, "train", gz=gz)
    loaded_images, loaded_labels = load_mnist("train", root=tmp_path, verify=False)
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


def test_missing_file_names_the_file_and_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz.*download=True"):
        load_mnist("train", root=tmp_path)


def test_corrupt_user_file_raises_idx_error_naming_it(tmp_path):
    _write_mnist(tmp_path, "train")
    path = tmp_path / FILES["train"][0]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(IDXError, match="train-images-idx3-ubyte.gz"):
        load_mnist("train", root=tmp_path, verify=False)


def test_mismatched_image_and_label_counts_raise_idx_error(tmp_path):
    _write_mnist(tmp_path, "train", count=5)
    write_idx(tmp_path / FILES["train"][1], np.zeros(4, dtype=np.uint8))
    with pytest.raises(IDXError, match=r"labels of shape \(5,\)"):
        load_mnist("train", root=tmp_path, verify=False)


# ----------------------------------------------------------------------------- verification
def _copy_bundled(root, unpack=()):
    """The bundled test split copied into ``root``; the files named in ``unpack`` unpacked
    (original names without .gz)."""
    root.mkdir(exist_ok=True)
    for name in FILES["test"]:
        raw = (BUNDLED_DIR / name).read_bytes()
        if name in unpack:
            (root / name[:-3]).write_bytes(gzip.decompress(raw))
        else:
            (root / name).write_bytes(raw)
    return root


def test_every_published_hash_is_a_sha256_and_the_bundled_files_pass():
    assert all(len(digest) == 64 and int(digest, 16) >= 0 for digest in SHA256.values())
    for name in FILES["test"]:  # the unpacked hashes agree with the verified packed files
        assert hashlib.sha256(gzip.decompress((BUNDLED_DIR / name).read_bytes())
                              ).hexdigest() == SHA256[name[:-3]]
        mnist.verify_file(BUNDLED_DIR / name, SHA256[name])


def test_a_local_copy_packed_or_unpacked_is_verified_and_loads(tmp_path):
    root = _copy_bundled(tmp_path / "copy", unpack=FILES["test"][:1])
    images, labels = load_mnist("test", root=root)
    assert images.shape == (10000, 28, 28) and labels[:3].tolist() == [7, 2, 1]


def test_a_copy_with_one_flipped_pixel_byte_is_refused_naming_both_hashes(tmp_path):
    root = _copy_bundled(tmp_path / "copy", unpack=FILES["test"][:1])
    path = root / "t10k-images-idx3-ubyte"
    raw = bytearray(path.read_bytes())
    raw[16 + 28 * 14 + 14] ^= 0x01  # one pixel of the first digit, one bit
    path.write_bytes(bytes(raw))
    actual = hashlib.sha256(bytes(raw)).hexdigest()
    with pytest.raises(ChecksumError, match=f"t10k-images-idx3-ubyte: SHA-256 expected "
                                            f"{SHA256[path.name]}, got {actual}"):
        load_mnist("test", root=root)


def test_a_copy_with_one_changed_label_is_refused(tmp_path):
    root = _copy_bundled(tmp_path / "copy")
    path = root / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8] = 1  # the first label: a 7 becomes a 1
    path.write_bytes(gzip.compress(bytes(raw)))  # a well-formed file: only its hash tells
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz: SHA-256 expected"):
        load_mnist("test", root=root)
    assert load_mnist("test", root=root, verify=False)[1][0] == 1  # unchecked, it would load


def test_the_second_load_skips_hashing_until_the_file_changes(tmp_path, hashes):
    root = _copy_bundled(tmp_path / "copy")
    load_mnist("test", root=root)
    assert sorted(hashes) == sorted(FILES["test"])  # first load: both files hashed
    hashes.clear()
    load_mnist("test", root=root)
    assert hashes == []  # the cache's verdict stands
    path = root / FILES["test"][1]
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    load_mnist("test", root=root)
    assert hashes == [FILES["test"][1]]  # a changed mtime: that file, and only it, again


def test_an_edit_that_keeps_size_and_mtime_is_still_caught(tmp_path):
    root = _copy_bundled(tmp_path / "copy")
    load_mnist("test", root=root)
    path = root / FILES["test"][0]
    stat = path.stat()
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # mtime put back
    with pytest.raises(ChecksumError, match="t10k-images-idx3-ubyte.gz"):
        load_mnist("test", root=root)


def test_an_unwritable_cache_only_costs_the_hashing(tmp_path, monkeypatch, hashes):
    blocker = tmp_path / "a-file"
    blocker.write_text("where the cache's directory would be")  # unwritable, even for root
    monkeypatch.setenv(CHECKSUM_CACHE_ENV, str(blocker / "checksums.json"))
    for _ in range(2):
        load_mnist("test")
    assert sorted(hashes) == sorted(FILES["test"] * 2)  # verified every time, no error


def test_a_checksum_table_without_the_file_is_refused(tmp_path):
    root = _copy_bundled(tmp_path / "copy")
    with pytest.raises(ChecksumError, match="no SHA-256 for t10k-images-idx3-ubyte.gz"):
        load_mnist("test", root=root, sha256={"other": "0" * 64})


def test_a_read_only_data_directory_loads_and_its_verdict_is_cached_elsewhere(tmp_path,
                                                                              hashes):
    root = _copy_bundled(tmp_path / "copy")
    for path in [*root.iterdir(), root]:
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        load_mnist("test", root=root)
        load_mnist("test", root=root)
        assert sorted(p.name for p in root.iterdir()) == sorted(FILES["test"])  # untouched
    finally:
        root.chmod(0o700)
    assert len(hashes) == 2  # the second load used the verdicts of the first


# ----------------------------------------------------------------------------- binarisation
def test_threshold_binarisation_cuts_above_127():
    images = np.array([0, 127, 128, 255], dtype=np.uint8)
    assert binarize(images).tolist() == [0, 0, 1, 1]


def test_stochastic_binarisation_is_reproducible_and_unbiased():
    images = np.full((200, 200), 64, dtype=np.uint8)
    first = binarize(images, "stochastic", seed=3)
    np.testing.assert_array_equal(first, binarize(images, "stochastic", seed=3))
    assert set(np.unique(first)) <= {0, 1}
    assert abs(first.mean() - 64 / 255) < 0.01  # 40,000 draws: std 0.002


def test_stochastic_binarisation_needs_a_seed():
    with pytest.raises(ValueError, match="needs an integer seed"):
        binarize(np.zeros(3, dtype=np.uint8), "stochastic")


def test_binarized_split_binarizes_both_parts_in_one_draw():
    (train, train_labels), (test, test_labels) = binarized_split("stochastic", seed=3)
    (train_images, expected_train_labels), (test_images, _) = default_split()
    both = binarize(np.concatenate([train_images, test_images]), "stochastic", seed=3)
    np.testing.assert_array_equal(np.concatenate([train, test]), both)
    np.testing.assert_array_equal(train_labels, expected_train_labels)
    assert train.shape == (8000, 28, 28) and test.shape == test_labels.shape + (28, 28)


# ----------------------------------------------------------------------------- subsets
def test_balanced_subset_takes_as_many_of_each_class_reproducibly():
    labels = np.random.default_rng(0).integers(0, 10, 500)
    picked = balanced_subset(labels, 30, seed=1)
    assert np.bincount(labels[picked], minlength=10).tolist() == [3] * 10
    assert (np.diff(picked) > 0).all()  # sorted, no index twice
    np.testing.assert_array_equal(picked, balanced_subset(labels, 30, seed=1))
    assert not np.array_equal(picked, balanced_subset(labels, 30, seed=2))
    np.testing.assert_array_equal(balanced_subset(labels, 500, seed=1), np.arange(500))


@pytest.mark.parametrize("count", [0, 15, 510])
def test_balanced_subset_refuses_counts_it_cannot_balance(count):
    labels = np.arange(500) % 10
    with pytest.raises(ValueError, match=f"positive multiple of 10 up to 500, got {count}"):
        balanced_subset(labels, count)


# ----------------------------------------------------------------------------- download
class _Server:
    """A local HTTP server for a dict of files, with switches for misbehaviour."""

    def __init__(self, files: dict):
        self.files = files
        self.range_headers: list = []
        self.ignore_range = False
        self.cut_next_response = False  # send half the body, then drop the connection
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = server.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                requested = self.headers.get("Range")
                server.range_headers.append(requested)
                start = 0
                if requested and not server.ignore_range:
                    start = int(requested.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/"
                                                      f"{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if server.cut_next_response:
                    server.cut_next_response = False
                    payload = payload[:len(payload) // 2]
                    self.close_connection = True
                self.wfile.write(payload)

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def mnist_server(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    _write_mnist(source, "train", count=300)
    files = {name: (source / name).read_bytes() for name in FILES["train"]}
    server = _Server(files)
    yield server, {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}
    server.close()


def test_download_fetches_verifies_and_loads_the_train_split(tmp_path, mnist_server):
    server, checksums = mnist_server
    root = tmp_path / "root"
    images, labels = load_mnist("train", root=root, download=True, mirror=server.url,
                                sha256=checksums)
    assert images.shape == (300, 28, 28) and labels.shape == (300,)
    assert sorted(p.name for p in root.iterdir()) == sorted(FILES["train"])  # no .part left
    load_mnist("train", root=root, sha256=checksums)  # now offline


def test_download_resumes_a_partial_file_with_a_range_request(tmp_path, mnist_server):
    server, checksums = mnist_server
    name = FILES["train"][0]
    body = server.files[name]
    (tmp_path / (name + ".part")).write_bytes(body[:1000])
    download_file(server.url + name, tmp_path / name, checksums[name])
    assert server.range_headers == ["bytes=1000-"]
    assert (tmp_path / name).read_bytes() == body


def test_download_starts_over_when_the_server_ignores_the_range(tmp_path, mnist_server):
    server, checksums = mnist_server
    server.ignore_range = True
    name = FILES["train"][0]
    (tmp_path / (name + ".part")).write_bytes(server.files[name][:1000])
    download_file(server.url + name, tmp_path / name, checksums[name])
    assert (tmp_path / name).read_bytes() == server.files[name]


def test_interrupted_download_keeps_its_part_and_a_retry_completes_it(tmp_path, mnist_server):
    server, checksums = mnist_server
    server.cut_next_response = True
    name = FILES["train"][0]
    with pytest.raises(ConnectionError, match="stopped after .* call again to resume"):
        download_file(server.url + name, tmp_path / name, checksums[name])
    assert not (tmp_path / name).exists()
    assert 0 < (tmp_path / (name + ".part")).stat().st_size < len(server.files[name])
    download_file(server.url + name, tmp_path / name, checksums[name])
    assert (tmp_path / name).read_bytes() == server.files[name]


def test_bad_checksum_raises_and_leaves_no_file(tmp_path, mnist_server):
    server, _ = mnist_server
    name = FILES["train"][1]
    root = tmp_path / "root"
    with pytest.raises(ChecksumError, match=f"SHA-256 of {name} expected 0+, got [0-9a-f]{{64}}"):
        download_file(server.url + name, root / name, "0" * 64)
    assert list(root.iterdir()) == []


def test_a_download_is_not_hashed_again_when_loaded(tmp_path, mnist_server, hashes):
    server, checksums = mnist_server
    load_mnist("train", root=tmp_path / "root", download=True, mirror=server.url,
               sha256=checksums)
    # once each, while downloading (the part file, before it becomes the file)
    assert sorted(hashes) == sorted(name + ".part" for name in FILES["train"])
