"""MNIST: the bundled 10k test split, a user's directory, or the 60k train split on request.

The package ships the official test split (``t10k``, 10,000 images, CC BY-SA 3.0, LeCun, Cortes
and Burges) so that everything runs offline. Until a user supplies the training split,
experiments use :func:`default_split`: train = t10k[:8000], test = t10k[8000:]. Every
reported figure should name the split and the binarisation it used (see :func:`binarize`).

Every file is checked against the published SHA-256 before it is read (the bundled copy, a
user's directory, gzip-compressed or not), so a flipped pixel or a changed label never trains
a model unnoticed. The verdict is cached per file (see :func:`verify_file`): a file is hashed
again only once it changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from tinygen.data import arguments
from tinygen.data.idx import IDXError, read_idx
from tinygen.nn import checks

BUNDLED_DIR = Path(__file__).resolve().parent / "mnist"
DEFAULT_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"
SPLITS = ("train", "test")
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# The published SHA-256 of the original gzip files, and of the IDX files inside them (what an
# unpacked copy holds; the t10k ones are those of the bundled, verified files).
SHA256 = {
    "train-images-idx3-ubyte.gz":
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz":
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz":
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz":
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    "train-images-idx3-ubyte":
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte":
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte":
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte":
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
DEFAULT_TRAIN_SIZE = 8000
CHECKSUM_CACHE_ENV = "TINYGEN_CHECKSUM_CACHE"  # names the verdict cache's JSON file
_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A file's SHA-256 is not the expected (published) one: a damaged or altered download,
    local copy or bundled file. The message names the file and both hashes."""


def default_root() -> Path:
    """Where downloads go when no ``root`` is given: ``$TINYGEN_DATA/mnist`` or
    ``~/.cache/tinygen/mnist``."""
    base = os.environ.get("TINYGEN_DATA")
    return Path(base) / "mnist" if base else Path.home() / ".cache" / "tinygen" / "mnist"


def load_mnist(split: str = "test", root: str | os.PathLike | None = None,
               download: bool = False, mirror: str = DEFAULT_MIRROR,
               sha256: dict | None = None, verify: bool = True
               ) -> tuple[np.ndarray, np.ndarray]:
    """Load an MNIST split, every file checked against its SHA-256 first.

    Args:
        split: "test" (10k images) or "train" (60k images).
        root: a directory holding the IDX files (``.gz`` or uncompressed, original names).
            None means the bundled copy for "test", and :func:`default_root` for "train".
        download: fetch missing files from ``mirror`` into ``root`` (verified, resumable,
            atomic).
        mirror: base URL that the file names are appended to.
        sha256: file name -> expected SHA-256, of downloads and of the files read (default:
            :data:`SHA256`, the published ones).
        verify: check each file against ``sha256`` before reading it (see
            :func:`verify_file`); False reads other data in MNIST's format and names
            (Fashion-MNIST, a test's synthetic files) unchecked.

    Returns:
        (images uint8 (N, 28, 28), labels int64 (N,)).

    Raises:
        ValueError: unknown split.
        FileNotFoundError: a file is missing and ``download`` is False.
        ChecksumError: a file (or a download) does not match its SHA-256, or ``sha256`` has
            none for it.
        IDXError: a file is truncated or corrupt, or not MNIST-shaped.
    """
    if split not in SPLITS:
        raise ValueError(f"load_mnist: split must be one of {SPLITS}, got {split!r}")
    arguments.path("load_mnist", "root", root, optional=True)
    checks.flag("load_mnist", "download", download)
    checks.flag("load_mnist", "verify", verify)
    if not isinstance(mirror, str):
        raise TypeError(f"load_mnist: mirror must be a URL str, got {type(mirror).__name__}")
    if sha256 is not None and (not isinstance(sha256, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in sha256.items())):
        raise TypeError(f"load_mnist: sha256 must be None or a dict of file name -> hex "
                        f"digest, got {sha256!r}")
    if root is None:
        root = BUNDLED_DIR if split == "test" and not download else default_root()
    root = Path(root)
    checksums = SHA256 if sha256 is None else sha256
    paths = []
    for name in FILES[split]:
        path = _find(root, name)
        if path is None:
            if not download:
                raise FileNotFoundError(
                    f"load_mnist: {name} (or {name[:-3]}) not found in root={str(root)!r}; "
                    f"pass download=True to fetch the {split} split, or a root that holds it")
            path = root / name
            download_file(mirror.rstrip("/") + "/" + name, path, checksums[name])
        if verify:
            if path.name not in checksums:
                raise ChecksumError(f"load_mnist: no SHA-256 for {path.name} in sha256 "
                                    f"(it has {sorted(checksums)}); add it, or pass "
                                    f"verify=False")
            verify_file(path, checksums[path.name])
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    _check_mnist(images, labels, paths)
    return images, labels.astype(np.int64)


def _find(root: Path, name: str) -> Path | None:
    for candidate in (root / name, root / name[:-3]):
        if candidate.is_file():
            return candidate
    return None


def _check_mnist(images: np.ndarray, labels: np.ndarray, paths: list) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IDXError(f"{paths[0]}: expected uint8 images of shape (N, 28, 28), got "
                       f"{images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.shape != (images.shape[0],):
        raise IDXError(f"{paths[1]}: expected uint8 labels of shape ({images.shape[0]},) to "
                       f"match the images, got {labels.dtype} {labels.shape}")
    if labels.size and labels.max() > 9:
        raise IDXError(f"{paths[1]}: labels must be in 0..9, got a {labels.max()}")


def default_split(root: str | os.PathLike | None = None,
                  train_size: int = DEFAULT_TRAIN_SIZE, verify: bool = True
                  ) -> tuple[tuple, tuple]:
    """The fixed experiment split of the 10k test set: the first ``train_size`` images for
    training, the rest for evaluation (t10k[:8000] and t10k[8000:] by default); ``root`` and
    ``verify`` as for :func:`load_mnist`.

    Returns:
        ((train images, train labels), (test images, test labels)), uint8 and int64.
    """
    checks.count("default_split", "train_size", train_size)
    arguments.path("default_split", "root", root, optional=True)
    checks.flag("default_split", "verify", verify)
    images, labels = load_mnist("test", root=root, verify=verify)
    if not 0 < train_size < len(images):
        raise ValueError(f"default_split: train_size must be in (0, {len(images)}), got "
                         f"{train_size}")
    return ((images[:train_size], labels[:train_size]),
            (images[train_size:], labels[train_size:]))


def balanced_subset(labels: np.ndarray, count: int, seed: int | None = None,
                    classes: int = 10) -> np.ndarray:
    """Sorted indices of ``count`` examples, ``count // classes`` of each class, drawn without
    replacement (the semi-supervised papers' labelled subset); all indices when ``count`` is
    ``len(labels)``, whatever the class balance.

    Args:
        labels: (N,) integer class labels in 0..classes-1.
        count: a positive multiple of ``classes``, at most N.
        seed: seeds the draw, so that a run's labelled subset is the same every time.
        classes: the number of classes.

    Raises:
        ValueError: ``count`` is not a positive multiple of ``classes`` up to N.
    """
    labels = arguments.rows("balanced_subset", "labels", labels, kinds="iu")
    classes = checks.count("balanced_subset", "classes", classes)
    if checks.integer("balanced_subset", "count", count) % classes or not (
            0 < count <= len(labels)):
        raise ValueError(f"balanced_subset: count must be a positive multiple of {classes} up "
                         f"to {len(labels)}, got {count}")
    arguments.seed("balanced_subset", seed)
    if count == len(labels):
        return np.arange(len(labels))  # every example (the classes need not be balanced)
    per_class = np.bincount(np.ravel(labels), minlength=classes)[:classes]
    if per_class.min() < count // classes:
        raise ValueError(f"balanced_subset: {count // classes} examples of each of {classes} "
                         f"classes are needed, class {int(per_class.argmin())} has "
                         f"{int(per_class.min())}")
    rng = np.random.default_rng(seed)
    picks = [rng.choice(np.flatnonzero(labels == label), count // classes, replace=False)
             for label in range(classes)]
    return np.sort(np.concatenate(picks))


def binarized_split(method: str = "threshold", seed: int | None = None,
                    train_size: int = DEFAULT_TRAIN_SIZE) -> tuple[tuple, tuple]:
    """:func:`default_split` with the images binarised by :func:`binarize` (``method``,
    ``seed``), both parts in one draw, so a seed gives the same pixels to every model.

    Returns:
        ((train pixels, train labels), (test pixels, test labels)); pixels uint8 in {0, 1}.
    """
    checks.choice("binarized_split", "method", method, ("threshold", "stochastic"))
    arguments.seed("binarized_split", seed)
    checks.count("binarized_split", "train_size", train_size)
    (train_images, train_labels), (test_images, test_labels) = default_split(
        train_size=train_size)
    binary = binarize(np.concatenate([train_images, test_images]), method, seed=seed)
    return (binary[:train_size], train_labels), (binary[train_size:], test_labels)


def binarize(images: np.ndarray, method: str = "threshold", seed: int | None = None,
             threshold: int = 127) -> np.ndarray:
    """Binarise uint8 intensities to {0, 1} (uint8), once.

    Args:
        images: uint8 array of intensities 0..255, any shape.
        method: "threshold" (pixel > ``threshold``: an easy dataset, fine for demos) or
            "stochastic" (each pixel ~ Bernoulli(intensity / 255), sampled once with ``seed``:
            the "binarized MNIST" of the literature, for figures set beside published ones).
        seed: required for "stochastic", so that the dataset is the same on every run.
        threshold: the cut for "threshold".
    """
    images = arguments.rows("binarize", "images", images)
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        raise TypeError(f"binarize: images must be uint8 intensities, got {images.dtype}")
    checks.number("binarize", "threshold", threshold)
    arguments.seed("binarize", seed)
    if method == "threshold":
        return (images > threshold).astype(np.uint8)
    if method == "stochastic":
        if seed is None:
            raise ValueError("binarize: method='stochastic' needs an integer seed, got None")
        rng = np.random.default_rng(seed)
        return (rng.random(images.shape) < images / 255.0).astype(np.uint8)
    raise ValueError(f"binarize: method must be 'threshold' or 'stochastic', got {method!r}")


# ----------------------------------------------------------------------------- download
def download_file(url: str, path: str | os.PathLike, sha256: str, timeout: float = 60.0
                  ) -> Path:
    """Download ``url`` to ``path``, resumable and atomic, and verify its SHA-256.

    Bytes go to ``path + ".part"``; a later call continues it with an HTTP Range request
    (starting over if the server ignores the range). Only a complete file whose SHA-256
    matches is fsynced and renamed onto ``path``, so ``path`` is never a partial file.

    Raises:
        ChecksumError: the complete download has another SHA-256 (the part file is deleted,
            so that a retry starts clean).
        urllib.error.URLError: the server cannot be reached (the part file is kept).
        ConnectionError: the connection dropped mid-file (the part file is kept).
    """
    if not isinstance(url, str):
        raise TypeError(f"download_file: url must be a str, got {type(url).__name__}")
    path = Path(arguments.path("download_file", "path", path))
    sha256 = arguments.sha256("download_file", sha256)
    checks.number("download_file", "timeout", timeout, 0.0, above=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url)
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code != 416:  # 416: the part already holds the whole file
            raise
    else:
        expected = response.headers.get("Content-Length")
        received = 0
        with response, open(part, "ab" if response.status == 206 else "wb") as out:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                received += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        # http.client returns a short body without complaint when the connection drops.
        if expected is not None and received < int(expected):
            raise ConnectionError(f"download of {url} stopped after {received} of {expected} "
                                  f"bytes; {part.name} is kept: call again to resume")
    actual = _sha256(part)
    if actual != sha256:
        part.unlink()
        raise ChecksumError(f"download of {url}: SHA-256 of {path.name} expected {sha256}, "
                            f"got {actual}")
    os.replace(part, path)
    _fsync_directory(path.parent)
    _remember(path, actual)  # verified: loading it will not hash it again
    return path


# ----------------------------------------------------------------------------- verification
def verify_file(path: str | os.PathLike, sha256: str) -> None:
    """Check that the file at ``path`` has the SHA-256 ``sha256``.

    The hash is cached in :func:`checksum_cache_path` under the file's resolved path, with
    its size, modification and change times and inode: a file is hashed again only when one
    of them changes (an edit, a copy, ``touch``), never on every load. The cache is a small
    JSON file in the user's cache directory, not beside the data (which may be read-only);
    when it cannot be written, every load hashes.

    Raises:
        ChecksumError: the hash differs; the message names the file, the expected and the
            actual hash.
    """
    path = Path(arguments.path("verify_file", "path", path))
    sha256 = arguments.sha256("verify_file", sha256)
    actual = _cached_sha256(path)
    if actual != sha256:
        raise ChecksumError(
            f"{path}: SHA-256 expected {sha256}, got {actual}: the file is damaged or "
            f"altered; fetch it again (load_mnist(download=True) into an empty root), or pass "
            f"verify=False to read other data in MNIST's format")


def checksum_cache_path() -> Path:
    """The verdict cache: ``$TINYGEN_CHECKSUM_CACHE``, else ``checksums.json`` in
    ``$XDG_CACHE_HOME/tinygen`` (``~/.cache/tinygen``)."""
    if os.environ.get(CHECKSUM_CACHE_ENV):
        return Path(os.environ[CHECKSUM_CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tinygen" / "checksums.json"


def _signature(path: Path) -> list:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _cached_sha256(path: Path) -> str:
    """The SHA-256 of ``path``: from the cache while the file is unchanged, else hashed."""
    entry = _read_cache().get(str(path.resolve()))
    if (isinstance(entry, dict) and entry.get("stat") == _signature(path)
            and isinstance(entry.get("sha256"), str)):
        return entry["sha256"]
    signature = _signature(path)
    digest = _sha256(path)
    if _signature(path) == signature:  # not changed while being hashed
        _remember(path, digest)
    return digest


def _remember(path: Path, digest: str) -> None:
    cache = _read_cache()
    cache[str(path.resolve())] = {"stat": _signature(path), "sha256": digest}
    target = checksum_cache_path()
    # a cache that cannot be written (a read-only home in CI) only costs the hashing
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                    suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(cache, file)
            os.replace(temp, target)  # atomic: a concurrent reader sees old or new, whole
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise


def _read_cache() -> dict:
    try:
        with open(checksum_cache_path(), encoding="utf-8") as file:
            cache = json.load(file)
    except (OSError, ValueError):  # none yet, unreadable, or torn: start afresh
        return {}
    return cache if isinstance(cache, dict) else {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable; Windows cannot open directories, and needs no such step."""
    if os.name == "nt":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
