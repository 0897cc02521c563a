"""Find, verify and read the four standard MNIST files (IDX format).

Where the files are looked for, in order:

1. the ``directory`` argument;
2. the ``MNIST_DIR`` environment variable;
3. the per-user cache, ``$XDG_CACHE_HOME/backprop-course/mnist``
   (``~/.cache/backprop-course/mnist`` by default);
4. with ``download=True`` only: the public mirrors, saved into the cache.

Each file may be gzip-compressed (``*.gz``) or not. The decompressed bytes
are checked against the standard SHA-256 sums, so a truncated or foreign file
is refused with a message instead of training on garbage.
"""

import gzip
import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# SHA-256 of the decompressed files (identical for every mirror's copy).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
ENV_VAR = "MNIST_DIR"
# Set by the grader in the student's process: the test labels are not there (a "model" must
# not be able to look them up), and the last 10,000 training images stand in for the test set.
WITHHELD_VAR = "MNIST_TEST_WITHHELD"
TRAIN_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
STAND_IN = 10_000


class MNISTNotFound(RuntimeError):
    """The MNIST files are missing, unreadable or corrupt; the message says how to fix it."""


@dataclass(frozen=True)
class MNIST:
    """Images as float32 rows scaled to [0, 1] and integer labels.

    X_train: (60000, 784), y_train: (60000,), X_test: (10000, 784), y_test: (10000,)
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    directory: Path


def cache_dir():
    """The per-user cache folder for MNIST (not created)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "backprop-course" / "mnist"


def how_to_provide():
    return (
        "Provide the four MNIST files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
        "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not) in one of these ways:\n"
        f"  - pass the folder: load_mnist('/path/to/mnist') (or --data-dir on the command line);\n"
        f"  - set the environment variable: export {ENV_VAR}=/path/to/mnist;\n"
        f"  - copy them into the cache folder {cache_dir()};\n"
        "  - or let the loader download them: load_mnist(download=True) "
        "(or --download on the command line)."
    )


def _find_file(directory, name):
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_verified(path, name):
    """The decompressed bytes of ``path``, after checking their SHA-256."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                data = handle.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as error:
        raise MNISTNotFound(
            f"cannot read {path}: {error}. The file is damaged; delete it and provide it again.\n"
            + how_to_provide()
        ) from None
    if hashlib.sha256(data).hexdigest() != SHA256[name]:
        raise MNISTNotFound(
            f"{path} is not the standard MNIST file {name} (its checksum differs: the file is "
            "truncated, corrupt or a different data set). Delete it and provide it again.\n"
            + how_to_provide()
        )
    return data


def parse_idx(data):
    """Parse IDX bytes: magic (0, 0, dtype code, ndim), big-endian int32 sizes, then the data."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError("not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"IDX header says {shape} but the file holds {values.size} values")
    return values.reshape(shape)


def _candidate_dirs(directory):
    """Folders to search: (folder, why it was chosen, whether the user chose it explicitly)."""
    if directory is not None:
        return [(Path(directory), "the folder passed in", True)]
    found = []
    if os.environ.get(ENV_VAR):
        found.append((Path(os.environ[ENV_VAR]), f"${ENV_VAR}", True))
    found.append((cache_dir(), "the cache folder", False))
    return found


def test_set_withheld():
    """True in the student's process while grading (see WITHHELD_VAR)."""
    return os.environ.get(WITHHELD_VAR) == "1"


def needed_files():
    """The file names load_mnist needs here: the training files alone while grading."""
    return TRAIN_FILES if test_set_withheld() else tuple(SHA256)


def data_files(names=tuple(SHA256), directory=None):
    """Paths of the MNIST files `names` where load_mnist(directory) finds them (for the
    grader, which shows the student's process the training files alone)."""
    folder = locate(directory, download=False, progress=False)
    return [path for path in (_find_file(folder, name) for name in names) if path is not None]


def locate(directory=None, *, download=False, progress=True):
    """Return the folder holding the files needed, downloading into the cache if asked."""
    searched = []
    for folder, why, explicit in _candidate_dirs(directory):
        missing = [name for name in needed_files() if _find_file(folder, name) is None]
        if not missing:
            return folder
        searched.append(f"  {folder} ({why}): missing {', '.join(missing)}")
        if explicit:
            # An explicit choice that is incomplete is an error, not a reason to look elsewhere.
            break
    if download:
        return download_mnist(cache_dir(), progress=progress)
    raise MNISTNotFound("MNIST files not found.\n" + "\n".join(searched) + "\n" + how_to_provide())


def _fetch(url, destination, *, progress):
    """Stream ``url`` into ``destination`` via a temporary ``.part`` file, with a progress bar."""
    # Imported here, not at the top: urllib.request takes 30 ms to import, and every notebook
    # that imports the toolkit (each one graded, in its own process) would pay it for nothing.
    import urllib.request

    from tqdm.auto import tqdm

    part = destination.with_name(destination.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=30) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=destination.name, disable=not progress
            ) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    bar.update(len(chunk))
        part.replace(destination)
    finally:
        part.unlink(missing_ok=True)


def download_mnist(target, *, progress=True):
    """Download the missing files from the public mirrors into ``target`` and verify them."""
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    for name in SHA256:
        if _find_file(target, name) is not None:
            continue
        destination = target / f"{name}.gz"
        errors = []
        for mirror in MIRRORS:
            try:
                _fetch(f"{mirror}{name}.gz", destination, progress=progress)
                _read_verified(destination, name)
                break
            except (OSError, MNISTNotFound) as error:
                errors.append(f"  {mirror}{name}.gz: {str(error).splitlines()[0]}")
                destination.unlink(missing_ok=True)
        else:
            raise MNISTNotFound(
                f"could not download {name}:\n" + "\n".join(errors) + "\n" + how_to_provide()
            )
    return target


def load_mnist(directory=None, *, download=False, progress=True):
    """Load MNIST as float32 images in [0, 1] (flattened to 784) and int64 labels.

    ``directory``: a folder with the four files; else ``$MNIST_DIR``, else the
    cache; ``download=True`` fetches missing files into the cache. While grading,
    in the student's process, the test files are withheld: see WITHHELD_VAR.
    Raises MNISTNotFound with instructions when the files are missing or corrupt.
    """
    folder = locate(directory, download=download, progress=progress)
    arrays = {}
    for name in needed_files():
        path = _find_file(folder, name)
        try:
            arrays[name] = parse_idx(_read_verified(path, name))
        except ValueError as error:
            raise MNISTNotFound(f"{path}: {error}.\n" + how_to_provide()) from None

    def images(name):
        raw = arrays[name]
        return (raw.reshape(len(raw), -1).astype(np.float32)) / np.float32(255)

    if test_set_withheld():
        warnings.warn(
            f"grading: the MNIST test set is withheld from your code; the last {STAND_IN:,} "
            "training images stand in for it (the grader measures on the real test set)",
            stacklevel=2,
        )
        X, y = images("train-images-idx3-ubyte"), arrays["train-labels-idx1-ubyte"].astype(np.int64)
        return MNIST(X[:-STAND_IN], y[:-STAND_IN], X[-STAND_IN:], y[-STAND_IN:], folder)
    return MNIST(
        X_train=images("train-images-idx3-ubyte"),
        y_train=arrays["train-labels-idx1-ubyte"].astype(np.int64),
        X_test=images("t10k-images-idx3-ubyte"),
        y_test=arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
        directory=folder,
    )
