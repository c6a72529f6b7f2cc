"""Data sets: every loader on small files written in its exact on-disk format (no mocks)."""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from effsearch.data import Dataset, load_dataset, parse_dataset_arg, resize_images
from effsearch.data import download as dl
from effsearch.data.batches import augment, epoch_indices, random_crop, random_flip, to_input
from effsearch.data.split import channel_stats, normalise, stratified_split
from effsearch.errors import DataError, EffsearchError

RNG = np.random.default_rng(0)


def _images(n: int, c: int, size: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, c, size, size), dtype=np.uint8)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


# --------------------------------------------------------------------------- digits, split, statistics


def test_digits_is_the_default_and_real():
    data = load_dataset()
    assert isinstance(data, Dataset) and data.name == "digits"
    assert data.train_x.dtype == torch.uint8 and data.train_x.shape[1:] == (1, 8, 8)
    assert len(data.train_y) + len(data.val_y) + len(data.test_y) == 1797 and data.num_classes == 10
    assert len(data.test_y) in (359, 360) and "no official test split" in data.test_source  # held out, 20%
    assert data.augment == "none" and data.default_resolution == 16
    assert int(data.train_x.max()) == 255  # 0..16 scaled to the full uint8 range
    # statistics come from the training part only
    mean, std = channel_stats(data.train_x, data.scale)
    assert data.mean == pytest.approx(mean) and data.std == pytest.approx(std)


def test_split_is_stratified_seeded_and_disjoint():
    a, b, c = (load_dataset("digits", seed=s) for s in (0, 0, 1))
    assert torch.equal(a.val_y, b.val_y) and torch.equal(a.val_x, b.val_x)
    assert not torch.equal(a.val_x, c.val_x)
    counts = torch.bincount(a.val_y, minlength=10)
    assert counts.min() >= 27 and counts.max() <= 30  # ~20% of each class's ~144 left after the test split
    labels = torch.tensor([0] * 10 + [1] * 5 + [2] * 2)
    train, val = stratified_split(labels, 0.2, seed=3)
    assert set(train.tolist()).isdisjoint(val.tolist()) and len(train) + len(val) == len(labels)
    assert torch.bincount(labels[val]).tolist() == [2, 1, 1]  # every class keeps one on each side


def test_val_fraction_is_validated():
    with pytest.raises(DataError, match="val_fraction"):
        load_dataset("digits", val_fraction=1.5)


def test_resize_subset_and_describe():
    data = load_dataset()
    big = data.resized(16)
    assert big.train_x.shape[1:] == (1, 16, 16) and big.train_x.dtype == torch.uint8
    assert data.resized(16) is big and data.resized(8) is data  # cached, and a no-op at the stored size
    assert torch.equal(big.train_y, data.train_y)
    small = data.subset(train=300, val=100, seed=0)
    assert abs(len(small.train_y) - 300) <= 10 and abs(len(small.val_y) - 100) <= 10
    assert torch.bincount(small.train_y).min() >= 25
    info = data.describe()
    assert info["train"] == len(data.train_y) and info["image_size"] == 8 and info["default_resolution"] == 16


def test_normalise_matches_the_formula():
    x = torch.randint(0, 256, (4, 3, 5, 5), dtype=torch.uint8)
    mean, std = (0.1, 0.5, 0.9), (0.2, 0.3, 0.4)
    expected = (x.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    assert torch.allclose(normalise(x, mean, std, 1 / 255), expected, atol=1e-6)


# --------------------------------------------------------------------------- CIFAR python batches


def _write_cifar10(root: Path, per_batch: int = 20, test: int = 20) -> np.ndarray:
    """The five training batches, ``batches.meta`` and (unless ``test`` is 0) ``test_batch``; returns the training labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    labels_all = []
    for i in range(1, 7 if test else 6):
        n = per_batch if i <= 5 else test
        labels = [int(v) for v in RNG.integers(0, 10, n)]
        labels_all += labels if i <= 5 else []
        batch = {b"batch_label": f"training batch {i} of 5".encode(), b"labels": labels,
                 b"data": _images(n, 3, 32).reshape(n, 3072), b"filenames": [b"x.png"] * n}
        (folder / (f"data_batch_{i}" if i <= 5 else "test_batch")).write_bytes(pickle.dumps(batch, protocol=2))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}, protocol=2))
    return np.array(labels_all)


def test_cifar10_batches(tmp_path):
    labels = _write_cifar10(tmp_path)
    for arg in (f"cifar10:{tmp_path}", f"cifar10:{tmp_path / 'cifar-10-batches-py'}", f"cifar-10:{tmp_path}"):
        data = load_dataset(arg, val_fraction=0.25)
        assert data.train_x.shape[1:] == (3, 32, 32) and data.train_x.dtype == torch.uint8
        assert len(data.train_y) + len(data.val_y) == 100 and data.num_classes == 10
        assert data.classes[0] == "airplane" and data.augment == "crop-flip"
        assert len(data.test_y) == 20 and data.test_source == "official test split (test_batch)"
    assert sorted(data.train_y.tolist() + data.val_y.tolist()) == sorted(labels.tolist())


def test_cifar_pixels_keep_channel_planes(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)
    for i in range(1, 6):
        batch = {"data": np.stack([row] * 4), "labels": [0, 1, 0, 1]}  # str keys are accepted too
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    data = load_dataset(f"cifar10:{tmp_path}")
    assert data.train_x[0, :, 0, 0].tolist() == [10, 20, 30]


def test_cifar100_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    n = 200
    fine = [i % 100 for i in range(n)]
    batch = {b"data": _images(n, 3, 32).reshape(n, 3072), b"fine_labels": fine, b"coarse_labels": [f // 5 for f in fine]}
    (folder / "train").write_bytes(pickle.dumps(batch, protocol=2))
    test = {b"data": _images(100, 3, 32).reshape(100, 3072), b"fine_labels": list(range(100))}
    (folder / "test").write_bytes(pickle.dumps(test, protocol=2))
    (folder / "meta").write_bytes(pickle.dumps({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, protocol=2))
    data = load_dataset(f"cifar100:{tmp_path}")
    assert data.num_classes == 100 and data.classes[99] == "c99"
    assert len(data.val_y) == 100 and torch.bincount(data.val_y, minlength=100).tolist() == [1] * 100
    assert len(data.test_y) == 100 and data.test_source == "official test split (test)"


def test_cifar_corrupt_and_missing(tmp_path):
    with pytest.raises(DataError) as exc:
        load_dataset(f"cifar10:{tmp_path / 'nowhere'}")
    assert str(tmp_path / "nowhere") in _one_line(exc) and "data_batch_1" in str(exc.value)
    _write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError) as exc:
        load_dataset(f"cifar10:{tmp_path}")
    assert "data_batch_3" in _one_line(exc)


def test_cifar_unpickler_refuses_code(tmp_path):
    _write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps({"data": Evil(), "labels": []}))
    with pytest.raises(DataError, match="data_batch_2"):
        load_dataset(f"cifar10:{tmp_path}")


# --------------------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)


def _idx(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx(folder: Path, n: int = 60, *, gz: bool, test: int = 20) -> np.ndarray:
    """Training files of ``n`` images and (unless ``test`` is 0) t10k files; returns the training images."""
    folder.mkdir(parents=True, exist_ok=True)
    images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n) % 10
    files = [("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)]
    if test:
        files += [("t10k-images-idx3-ubyte", RNG.integers(0, 256, (test, 28, 28), dtype=np.uint8)),
                  ("t10k-labels-idx1-ubyte", np.arange(test) % 10)]
    for name, arr in files:
        raw = _idx(arr)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return images


def test_idx_magic_numbers_are_the_official_ones():
    assert _idx(np.zeros((2, 3, 3)))[:4] == b"\x00\x00\x08\x03"
    assert _idx(np.zeros(2))[:4] == b"\x00\x00\x08\x01"


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_loaders(tmp_path, name, gz):
    images = _write_idx(tmp_path, gz=gz)
    data = load_dataset(f"{name}:{tmp_path}", val_fraction=0.5)
    assert data.train_x.shape[1:] == (1, 28, 28) and data.num_classes == 10 and data.augment == "none"
    assert len(data.train_y) == len(data.val_y) == 30
    assert len(data.test_y) == 20 and data.test_source == "official test split (t10k files)"
    first = data.train_x[0, 0].numpy()
    assert any((first == img).all() for img in images)
    if name == "fashion-mnist":
        assert data.classes[9] == "Ankle boot"


def test_idx_wrong_magic_and_truncation(tmp_path):
    _write_idx(tmp_path, gz=False)
    bad = tmp_path / "train-images-idx3-ubyte"
    raw = bad.read_bytes()
    bad.write_bytes(b"\x00\x00\x08\x01" + raw[4:])
    with pytest.raises(DataError) as exc:
        load_dataset(f"mnist:{tmp_path}")
    assert str(bad) in _one_line(exc) and "0x00000803" in str(exc.value)
    bad.write_bytes(raw[:-100])
    with pytest.raises(DataError, match="truncated"):
        load_dataset(f"mnist:{tmp_path}")
    bad.write_bytes(raw)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_dataset(f"mnist:{tmp_path}")


# --------------------------------------------------------------------------- image folder, npz


def _write_folder(root: Path, sizes: dict[str, tuple[int, int]], mode: str = "RGB", per_class: int = 4) -> None:
    from PIL import Image

    for cls, (w, h) in sizes.items():
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            arr = RNG.integers(0, 256, (h, w, 3) if mode == "RGB" else (h, w), dtype=np.uint8)
            Image.fromarray(arr, mode=mode).save(root / cls / f"{i}.png")


def test_image_folder(tmp_path):
    _write_folder(tmp_path, {"cat": (24, 24), "dog": (24, 24), "fox": (24, 24)})
    data = load_dataset(f"folder:{tmp_path}", val_fraction=0.25)
    assert data.classes == ("cat", "dog", "fox") and data.train_x.shape[1:] == (3, 24, 24)
    assert len(data.val_y) == 3 and data.augment == "crop-flip"
    assert parse_dataset_arg(str(tmp_path)) == ("folder", str(tmp_path))  # a bare folder is recognised


def test_image_folder_resizes_mixed_sizes_and_keeps_grayscale(tmp_path):
    _write_folder(tmp_path, {"a": (40, 30), "b": (50, 60)}, mode="L")
    data = load_dataset(f"folder:{tmp_path}")
    assert data.train_x.shape[1:] == (1, 32, 32)


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError) as exc:
        load_dataset(f"folder:{tmp_path / 'missing'}")
    assert str(tmp_path / "missing") in _one_line(exc) and "sub-folder per class" in str(exc.value)
    _write_folder(tmp_path, {"a": (8, 8), "b": (8, 8)})
    (tmp_path / "b" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError) as exc:
        load_dataset(f"folder:{tmp_path}")
    assert "broken.png" in _one_line(exc)
    (tmp_path / "b" / "broken.png").unlink()
    (tmp_path / "c").mkdir()
    with pytest.raises(DataError, match="has no images"):
        load_dataset(f"folder:{tmp_path}")


def test_npz_layouts(tmp_path):
    nhwc = tmp_path / "nhwc.npz"
    np.savez(nhwc, x_train=RNG.integers(0, 256, (50, 12, 12, 3), dtype=np.uint8), y_train=np.arange(50) % 5)
    data = load_dataset(f"npz:{nhwc}")
    assert data.train_x.shape[1:] == (3, 12, 12) and data.num_classes == 5 and data.train_x.dtype == torch.uint8
    floats = tmp_path / "floats.npz"
    np.savez_compressed(floats, x=RNG.normal(size=(40, 1, 10, 10)).astype(np.float64), y=np.arange(40) % 4,
                        x_val=RNG.normal(size=(8, 1, 10, 10)), y_val=np.arange(8) % 4)
    data = load_dataset(str(floats))  # a bare .npz path is recognised
    assert data.train_x.dtype == torch.float32 and data.scale == 1.0
    # the file's own validation split is used; the test split is held out of the 40 training images
    assert len(data.train_y) == 32 and len(data.val_y) == 8 and len(data.test_y) == 8


def test_npz_errors(tmp_path):
    with pytest.raises(DataError) as exc:
        load_dataset(f"npz:{tmp_path / 'none.npz'}")
    assert "none.npz" in _one_line(exc) and "x_train" in str(exc.value)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, foo=np.zeros(3))
    with pytest.raises(DataError, match="has keys foo"):
        load_dataset(f"npz:{wrong}")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match=r"corrupt\.npz"):
        load_dataset(f"npz:{corrupt}")
    labels = tmp_path / "labels.npz"
    np.savez(labels, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0.5, 1, 2, 3]))
    with pytest.raises(DataError, match="integer class indices"):
        load_dataset(f"npz:{labels}")


def test_dataset_names():
    assert parse_dataset_arg(None) == ("digits", None)
    assert parse_dataset_arg("CIFAR10") == ("cifar10", None)
    assert parse_dataset_arg("fashion_mnist:/x") == ("fashion-mnist", "/x")
    with pytest.raises(DataError) as exc:
        parse_dataset_arg("imagenet")
    assert "cifar10" in _one_line(exc)
    with pytest.raises(DataError, match="takes no path"):
        load_dataset("digits:/tmp")
    assert issubclass(DataError, EffsearchError)


def test_the_format_registry():
    from effsearch.data.formats import FORMATS, find_format, guess_format, register_format, unregister_format

    assert find_format(" Fashion_MNIST ").name == "fashion-mnist" and find_format("cifar-10").name == "cifar10"
    assert find_format("imagenet") is None and {"digits", "npz", "folder"} <= set(FORMATS.names())
    assert FORMATS.get("mnist").train_augment == "crop" and FORMATS.get("digits").train_augment is None
    assert guess_format(Path(__file__).parent) == "folder" and guess_format(Path("missing.npz")) is None
    with pytest.raises(DataError, match="already registered"):
        register_format("digits", lambda *a, **k: None)
    with pytest.raises(DataError, match="alias 'fmnist' already names data set 'fashion-mnist'"):
        register_format("my-set", lambda *a, **k: None, aliases=("fmnist",))
    for bad in ("My_Set", "a:b", ""):
        with pytest.raises(DataError, match=r"name .* is invalid"):
            register_format(bad, lambda *a, **k: None)
    with pytest.raises(DataError, match="train_augment 'rotate' is not one of none, flip, crop, crop-flip"):
        register_format("my-set", lambda *a, **k: None, train_augment="rotate")
    register_format("my-set", lambda *a, **k: None, aliases=("mine",), recognise=lambda p: p.suffix == ".mine")
    try:
        assert parse_dataset_arg("MINE:/x") == ("my-set", "/x") and parse_dataset_arg("data.mine") == ("my-set", "data.mine")
    finally:
        unregister_format("my-set")
    assert find_format("mine") is None and "my-set" not in FORMATS


# --------------------------------------------------------------------------- download and cache


def _cifar_archive(tmp_path: Path) -> tuple[Path, str]:
    src = tmp_path / "src"
    _write_cifar10(src, per_batch=4)
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    import hashlib

    return archive, hashlib.md5(archive.read_bytes()).hexdigest()


def test_download_verifies_and_extracts(tmp_path, monkeypatch):
    archive, md5 = _cifar_archive(tmp_path)
    resource = dl.Resource("cifar-10-python.tar.gz", (archive.as_uri(),), md5=md5, extract=True)
    monkeypatch.setitem(dl.STANDARD, "cifar10", (resource,))
    monkeypatch.delenv("EFFSEARCH_OFFLINE", raising=False)
    cache = tmp_path / "cache"
    data = load_dataset("cifar10", cache_dir=cache)
    assert len(data.train_y) + len(data.val_y) == 20
    assert (cache / "cifar10" / "cifar-10-python.tar.gz").is_file()
    # second time: no download needed, even offline
    monkeypatch.setenv("EFFSEARCH_OFFLINE", "1")
    assert len(load_dataset("cifar10", cache_dir=cache).train_y) == len(data.train_y)


def test_download_rejects_wrong_checksum(tmp_path):
    archive, _ = _cifar_archive(tmp_path)
    resource = dl.Resource("x.tar.gz", (archive.as_uri(),), md5="0" * 32)
    with pytest.raises(DataError) as exc:
        dl.fetch(resource, tmp_path / "cache", name="cifar10")
    assert "wrong checksum" in _one_line(exc)
    assert not (tmp_path / "cache" / "x.tar.gz").exists()


def test_offline_message_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFSEARCH_OFFLINE", "1")
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", cache_dir=tmp_path)
    text = _one_line(exc)
    assert str(tmp_path / "mnist") in text and "train-images-idx3-ubyte.gz" in text and "f68b3c2d" in text
    assert "mnist:PATH" in text
    monkeypatch.delenv("EFFSEARCH_OFFLINE")
    resource = dl.Resource("f.gz", ("http://127.0.0.1:9/f.gz",), sha256="0" * 64)  # nothing listens on port 9
    with pytest.raises(DataError) as exc:
        dl.fetch(resource, tmp_path / "x", name="mnist")
    assert "download from http://127.0.0.1:9/f.gz failed" in _one_line(exc)


def test_cache_root_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("EFFSEARCH_DATA", str(tmp_path / "d"))
    assert dl.cache_root() == tmp_path / "d"
    assert dl.cache_root(tmp_path / "e") == tmp_path / "e"


# --------------------------------------------------------------------------- batching and augmentation


def test_epoch_indices_cover_once():
    gen = torch.Generator().manual_seed(0)
    batches = list(epoch_indices(10, 4, generator=gen, drop_last=True))
    assert [len(b) for b in batches] == [4, 4]
    allb = torch.cat(list(epoch_indices(10, 4, generator=None, drop_last=False)))
    assert allb.tolist() == list(range(10))
    assert [len(b) for b in epoch_indices(3, 8, generator=gen, drop_last=True)] == [3]  # fewer than a batch


def test_crop_and_flip_are_batched_and_seeded():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.uint8).view(2, 1, 4, 4)
    a = random_crop(x, 1, torch.Generator().manual_seed(1))
    b = random_crop(x, 1, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == torch.uint8
    # each crop is a shifted window of the zero-padded image
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    for i in range(2):
        assert any(torch.equal(a[i], padded[i, :, dy:dy + 4, dx:dx + 4]) for dy in range(3) for dx in range(3))
    f = random_flip(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(f[i], x[i]) or torch.equal(f[i], x[i].flip(-1)) for i in range(2))
    assert torch.equal(augment(x, "none", torch.Generator()), x)


def test_to_input_channels_last():
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    out = to_input(x, mean=(0.5,) * 3, std=(0.25,) * 3, scale=1 / 255, device=torch.device("cpu"), channels_last=True)
    assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)


def test_resize_images_rounds_back_to_uint8():
    x = torch.full((1, 1, 8, 8), 200, dtype=torch.uint8)
    out = resize_images(x, 16)
    assert out.dtype == torch.uint8 and out.shape == (1, 1, 16, 16) and int(out.min()) == int(out.max()) == 200


def test_gzip_helper_is_real_gzip(tmp_path):
    # guard for the IDX tests: what they write is what gzip.open reads
    raw = _idx(np.arange(10, dtype=np.uint8))
    with gzip.open(io.BytesIO(gzip.compress(raw))) as f:
        assert f.read() == raw


def test_dataset_pickles_without_its_resize_cache():
    import pickle as pkl

    data = load_dataset()
    data.resized(16)
    copy = pkl.loads(pkl.dumps(data))
    assert copy._cache == {} and data._cache and torch.equal(copy.train_x, data.train_x)
    assert copy.resized(16).image_size == 16


def test_fashion_mnist_found_where_the_system_package_installs_it(tmp_path, monkeypatch):
    from effsearch.data import download

    system = tmp_path / "usr-share" / "fashion-mnist"
    system.mkdir(parents=True)
    _write_idx(system, gz=True)
    monkeypatch.setitem(download.SYSTEM_FOLDERS, "fashion-mnist", (system,))
    monkeypatch.setenv("EFFSEARCH_OFFLINE", "1")
    data = load_dataset("fashion-mnist", cache_dir=tmp_path / "empty-cache", val_fraction=0.5)
    assert data.source == str(system) and len(data.train_y) == 30
    assert not (tmp_path / "empty-cache").exists()  # nothing copied or downloaded
    monkeypatch.setitem(download.SYSTEM_FOLDERS, "fashion-mnist", (tmp_path / "missing",))
    with pytest.raises(DataError, match="offline"):
        load_dataset("fashion-mnist", cache_dir=tmp_path / "empty-cache")


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_the_real_fashion_mnist_without_a_path(tmp_path):
    data = load_dataset("fashion-mnist", cache_dir=tmp_path)
    assert len(data.train_y) + len(data.val_y) == 60000 and data.image_size == 28 and data.num_classes == 10
    assert len(data.test_y) == 10000 and data.test_source == "official test split (t10k files)"
