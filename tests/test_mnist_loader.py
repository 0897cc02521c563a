"""The MNIST loader finds, verifies and reads the standard files, and explains every failure."""

import gzip
import shutil

import numpy as np
import pytest

from autograder.student import mnist as loader

NAMES = list(loader.SHA256)


def test_loads_the_shared_copy(mnist):
    assert mnist.X_train.shape == (60000, 784) and mnist.X_test.shape == (10000, 784)
    assert mnist.X_train.dtype == np.float32
    assert 0.0 == mnist.X_train.min() and mnist.X_train.max() == 1.0
    np.testing.assert_array_equal(
        np.bincount(mnist.y_train), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    )
    np.testing.assert_array_equal(
        np.bincount(mnist.y_test), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )


@pytest.fixture(scope="module")
def decompressed(tmp_path_factory):
    """The four files, decompressed once per module."""
    source, folder = loader.locate(), tmp_path_factory.mktemp("mnist")
    for name in NAMES:
        with gzip.open(source / f"{name}.gz") as src, open(folder / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return folder


@pytest.fixture
def copy_of_mnist(decompressed, tmp_path, monkeypatch):
    """A private copy of the decompressed files, with the cache pointed at an empty folder."""
    for name in NAMES:
        shutil.copy(decompressed / name, tmp_path / name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_uncompressed_files_via_argument_and_cache(copy_of_mnist, monkeypatch):
    data = loader.load_mnist(copy_of_mnist)
    assert data.directory == copy_of_mnist and len(data.y_test) == 10000
    # Without argument or MNIST_DIR, the cache folder is used.
    monkeypatch.delenv("MNIST_DIR")
    shutil.copytree(copy_of_mnist, loader.cache_dir(), ignore=shutil.ignore_patterns("cache"))
    assert loader.load_mnist().directory == loader.cache_dir()


def test_missing_file_names_it_and_how_to_fix(copy_of_mnist):
    (copy_of_mnist / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(loader.MNISTNotFound) as error:
        loader.load_mnist(copy_of_mnist)
    message = str(error.value)
    assert "missing t10k-labels-idx1-ubyte" in message
    assert "export MNIST_DIR" in message and "download=True" in message


def test_truncated_file_is_refused(copy_of_mnist):
    path = copy_of_mnist / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(loader.MNISTNotFound, match="checksum differs"):
        loader.load_mnist(copy_of_mnist)


def test_damaged_gzip_is_refused(copy_of_mnist):
    path = copy_of_mnist / "train-images-idx3-ubyte"
    path.unlink()
    (copy_of_mnist / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(loader.MNISTNotFound, match="damaged"):
        loader.load_mnist(copy_of_mnist)


def test_an_incomplete_mnist_dir_is_an_error_even_if_the_cache_is_full(
    copy_of_mnist, monkeypatch, tmp_path
):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MNIST_DIR", str(empty))
    with pytest.raises(loader.MNISTNotFound, match=r"\$MNIST_DIR"):
        loader.load_mnist()


def test_download_fetches_into_the_cache_and_verifies(copy_of_mnist, monkeypatch, tmp_path):
    """The download path, with the mirrors replaced by local files (tests never touch the
    network)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in NAMES:
        with (
            open(copy_of_mnist / name, "rb") as src,
            gzip.open(mirror / f"{name}.gz", "wb", compresslevel=1) as dst,
        ):
            shutil.copyfileobj(src, dst)
    broken = tmp_path / "broken"
    broken.mkdir()
    monkeypatch.setattr(loader, "MIRRORS", (broken.as_uri() + "/", mirror.as_uri() + "/"))
    monkeypatch.delenv("MNIST_DIR")
    with pytest.raises(loader.MNISTNotFound, match="download=True"):
        loader.load_mnist()
    data = loader.load_mnist(download=True, progress=False)
    assert data.directory == loader.cache_dir() and len(data.X_train) == 60000
    assert sorted(p.name for p in loader.cache_dir().iterdir()) == sorted(f"{n}.gz" for n in NAMES)


def test_download_failure_lists_every_mirror(copy_of_mnist, monkeypatch, tmp_path):
    monkeypatch.setattr(loader, "MIRRORS", ((tmp_path / "nowhere").as_uri() + "/",))
    monkeypatch.delenv("MNIST_DIR")
    with pytest.raises(loader.MNISTNotFound, match="could not download") as error:
        loader.load_mnist(download=True, progress=False)
    assert "nowhere" in str(error.value)
    assert not list(loader.cache_dir().glob("*.part"))


def test_parse_idx_rejects_foreign_bytes():
    with pytest.raises(ValueError, match="magic"):
        loader.parse_idx(b"PK\x03\x04 a zip file")
    with pytest.raises(ValueError, match="header says"):
        loader.parse_idx(bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]))
