"""The test split: official where the files have one, else held out before the train/val split."""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from effsearch.data import TEST_FRACTION, TEST_SEED, Dataset, RawData, load_dataset, make_dataset
from effsearch.errors import DataError
from tests.test_data import _idx, _one_line, _write_cifar10, _write_folder, _write_idx

RNG = np.random.default_rng(1)
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _numbered(n: int, classes: int) -> RawData:
    """``n`` 2x2 images whose first two pixels spell their index, labels cycling through ``classes``."""
    x = torch.zeros(n, 1, 2, 2, dtype=torch.uint8)
    x[:, 0, 0, 0] = torch.arange(n) // 256
    x[:, 0, 0, 1] = torch.arange(n) % 256
    return RawData(x=x, y=torch.arange(n) % classes, classes=tuple(str(c) for c in range(classes)))


def _ids(x: torch.Tensor) -> set[int]:
    return set((x[:, 0, 0, 0].long() * 256 + x[:, 0, 0, 1].long()).tolist())


# --------------------------------------------------------------------------- the held-out split


def test_the_carve_is_disjoint_stratified_and_the_same_for_every_seed():
    raw = _numbered(500, 5)
    first = None
    for seed in (0, 1, 7):
        data = make_dataset("numbered", raw, seed=seed)
        train, val, test = _ids(data.train_x), _ids(data.val_x), _ids(data.test_x)
        assert len(train) + len(val) + len(test) == 500 and not (train & test) and not (val & test) and not (train & val)
        assert torch.bincount(data.test_y).tolist() == [20] * 5  # 20% of each class's 100
        assert data.test_source == "held out: 20% of the images, stratified, seed 0 (the data set has no official test split)"
        first = first or (test, train)
        assert test == first[0]  # the same test images whatever the search seed
    assert train != first[1]  # while the train/val split does follow the seed
    assert TEST_FRACTION == 0.2 and TEST_SEED == 0


def test_digits_carve_is_fixed_and_the_statistics_come_from_train_only():
    a, b = load_dataset("digits", seed=0), load_dataset("digits", seed=3)
    assert torch.equal(a.test_x, b.test_x) and torch.equal(a.test_y, b.test_y)
    assert len(a.test_y) in (359, 360) and len(a.train_y) + len(a.val_y) == 1797 - len(a.test_y)
    counts = torch.bincount(a.test_y, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37
    assert a.describe()["test"] == len(a.test_y) and "seed 0" in a.describe()["test_source"]


def test_an_explicit_validation_split_is_kept_and_the_test_split_carved_from_train(tmp_path):
    file = tmp_path / "d.npz"
    np.savez(file, x_train=RNG.integers(0, 256, (50, 8, 8), dtype=np.uint8), y_train=np.arange(50) % 5,
             x_val=RNG.integers(0, 256, (7, 8, 8), dtype=np.uint8), y_val=np.arange(7) % 5)
    data = load_dataset(f"npz:{file}")
    assert (len(data.train_y), len(data.val_y), len(data.test_y)) == (40, 7, 10)
    assert f"no x_test/y_test in {file}" in data.test_source


def test_too_few_images_for_a_test_split_is_one_line():
    raw = RawData(x=torch.zeros(3, 1, 2, 2, dtype=torch.uint8), y=torch.tensor([0, 1, 2]), classes=())
    with pytest.raises(DataError) as exc:
        make_dataset("three", raw)
    assert "test split" in _one_line(exc)


def test_make_dataset_checks_an_official_test_pair():
    raw = _numbered(40, 4)
    good = (torch.zeros(8, 1, 2, 2, dtype=torch.uint8), torch.arange(8) % 4)
    data = make_dataset("n", RawData(**{**raw.__dict__, "test": good, "test_source": "mine"}))
    assert len(data.train_y) + len(data.val_y) == 40 and len(data.test_y) == 8 and data.test_source == "mine"
    for bad, words in (((torch.zeros(8, 1, 3, 3, dtype=torch.uint8), good[1]), "do not match"),
                       ((good[0].float(), good[1]), "do not match"),
                       ((good[0], torch.arange(8)), "class indices 0..3"),
                       ((good[0], good[1][:5]), "N labels")):
        with pytest.raises(DataError) as exc:
            make_dataset("n", RawData(**{**raw.__dict__, "test": bad, "test_source": "mine"}))
        assert words in _one_line(exc) and "test split (mine)" in str(exc.value)


# --------------------------------------------------------------------------- Dataset


def test_test_at_resizes_caches_and_is_left_alone_by_resized_and_pickling():
    data = load_dataset("digits")
    x, y = data.test_at(8)
    assert x is data.test_x and y is data.test_y  # the stored size needs no copy
    x16, y16 = data.test_at(16)
    assert x16.shape == (len(y), 1, 16, 16) and x16.dtype == torch.uint8 and torch.equal(y16, y)
    assert data.test_at(16)[0] is x16  # cached
    big = data.resized(16)
    assert big.test_x is data.test_x and big.train_x.shape[-1] == 16  # searches never resize the test split
    copy = pickle.loads(pickle.dumps(data))
    assert copy._cache == {} and torch.equal(copy.test_x, data.test_x) and copy.test_source == data.test_source


def test_subset_limits_the_test_split_too():
    data = load_dataset("digits")
    small = data.subset(train=200, val=50, test=100, seed=0)
    assert abs(len(small.test_y) - 100) <= 10 and torch.bincount(small.test_y).min() >= 8
    assert torch.equal(data.subset(train=200).test_y, data.test_y)  # no limit: the whole test split


def test_a_dataset_without_a_test_split_says_so():
    data = load_dataset("digits")
    bare = Dataset(name="bare", train_x=data.train_x, train_y=data.train_y, val_x=data.val_x, val_y=data.val_y,
                   num_classes=10, mean=data.mean, std=data.std)
    with pytest.raises(DataError, match="this data set has no test split"):
        bare.test_at(8)
    assert bare.describe()["test"] == 0 and bare.subset(test=5).test_x is None


# --------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("layout", ["plain", "gz", "raw", "dotted"])
def test_idx_reads_the_t10k_files(tmp_path, layout):
    folder = tmp_path / "raw" if layout == "raw" else tmp_path
    _write_idx(folder, n=50, gz=layout in ("gz", "raw"), test=30)
    if layout == "dotted":  # the train-images.idx3-ubyte spelling of some mirrors
        for f in list(tmp_path.iterdir()):
            f.rename(f.with_name(f.name.replace("-idx", ".idx")))
    data = load_dataset(f"mnist:{tmp_path}")
    assert len(data.test_y) == 30 and len(data.train_y) + len(data.val_y) == 50
    assert data.test_source == "official test split (t10k files)" and data.test_x.shape[1:] == (1, 28, 28)


def test_idx_without_t10k_files_holds_a_test_split_out(tmp_path):
    _write_idx(tmp_path, n=100, gz=True, test=0)
    data = load_dataset(f"fashion-mnist:{tmp_path}")
    assert len(data.test_y) == 20 and len(data.train_y) + len(data.val_y) == 80
    assert data.test_source.startswith("held out: 20%") and f"no t10k files in {tmp_path}" in data.test_source


def test_idx_bad_test_files_are_one_line(tmp_path):
    _write_idx(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError) as exc:
        load_dataset(f"mnist:{tmp_path}")
    assert "t10k-images-idx3-ubyte" in _one_line(exc) and "t10k-labels-idx1-ubyte" in str(exc.value)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.arange(7) % 10))  # 20 images, 7 labels
    with pytest.raises(DataError) as exc:
        load_dataset(f"mnist:{tmp_path}")
    assert "t10k" in _one_line(exc)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(_idx(np.zeros((7, 20, 20))))  # 20 px, training is 28
    with pytest.raises(DataError) as exc:
        load_dataset(f"mnist:{tmp_path}")
    assert "do not match training images" in _one_line(exc)


@pytest.mark.skipif(not os.environ.get("CI") and not (FASHION / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"Debian's dataset-fashion-mnist is not installed ({FASHION} is missing)")
def test_the_real_fashion_mnist_has_its_official_test_split(tmp_path):
    assert (FASHION / "t10k-images-idx3-ubyte.gz").is_file(), ".ci/run installs dataset-fashion-mnist"
    data = load_dataset(f"fashion-mnist:{FASHION}", cache_dir=tmp_path)
    assert len(data.train_y) + len(data.val_y) == 60000 and len(data.test_y) == 10000
    assert data.test_source == "official test split (t10k files)" and data.test_x.dtype == torch.uint8
    assert torch.bincount(data.test_y).tolist() == [1000] * 10


# --------------------------------------------------------------------------- CIFAR


def test_cifar_with_and_without_its_test_batch(tmp_path):
    _write_cifar10(tmp_path / "a", test=30)
    data = load_dataset(f"cifar10:{tmp_path / 'a'}")
    assert len(data.test_y) == 30 and len(data.train_y) + len(data.val_y) == 100
    assert data.test_x.shape[1:] == (3, 32, 32) and data.test_source == "official test split (test_batch)"
    _write_cifar10(tmp_path / "b", test=0)
    data = load_dataset(f"cifar10:{tmp_path / 'b'}")
    assert len(data.train_y) + len(data.val_y) + len(data.test_y) == 100 and "no test_batch in" in data.test_source


def test_a_bad_cifar_test_batch_is_one_line(tmp_path):
    _write_cifar10(tmp_path)
    batch = tmp_path / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({"data": np.zeros((4, 100), np.uint8), "labels": [0, 1, 2, 3]}))
    with pytest.raises(DataError) as exc:
        load_dataset(f"cifar10:{tmp_path}")
    assert "test_batch" in _one_line(exc) and "3072" in str(exc.value)
    batch.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}))
    with pytest.raises(DataError) as exc:
        load_dataset(f"cifar10:{tmp_path}")
    assert "test_batch" in _one_line(exc) and "0..9" in str(exc.value)


# --------------------------------------------------------------------------- npz


@pytest.mark.parametrize("keys", [("x_test", "y_test"), ("test_x", "test_y")])
def test_npz_test_pair(tmp_path, keys):
    file = tmp_path / "d.npz"
    np.savez(file, x_train=RNG.integers(0, 256, (40, 6, 6, 3), dtype=np.uint8), y_train=np.arange(40) % 4,
             **{keys[0]: RNG.integers(0, 256, (12, 6, 6, 3), dtype=np.uint8), keys[1]: np.arange(12) % 4})
    data = load_dataset(f"npz:{file}")
    assert len(data.train_y) + len(data.val_y) == 40 and len(data.test_y) == 12
    assert data.test_x.shape[1:] == (3, 6, 6) and data.test_source == f"{keys[0]}/{keys[1]}"


def test_npz_bad_test_pairs_are_one_line(tmp_path):
    x = RNG.integers(0, 256, (40, 6, 6), dtype=np.uint8)
    for name, test_x, test_y, words in (("size", np.zeros((5, 7, 7), np.uint8), np.arange(5), "test images"),
                                        ("dtype", np.zeros((5, 6, 6)), np.arange(5), "test images"),
                                        ("count", np.zeros((5, 6, 6), np.uint8), np.arange(4), "5 test images but 4")):
        file = tmp_path / f"{name}.npz"
        np.savez(file, x=x, y=np.arange(40) % 4, x_test=test_x, y_test=test_y)
        with pytest.raises(DataError) as exc:
            load_dataset(f"npz:{file}")
        assert words in _one_line(exc) and str(file) in str(exc.value)


# --------------------------------------------------------------------------- image folder


def test_folder_with_train_and_test(tmp_path):
    _write_folder(tmp_path / "train", {"cat": (24, 24), "dog": (24, 24)}, mode="L", per_class=5)
    _write_folder(tmp_path / "test", {"cat": (40, 30), "dog": (24, 24)}, per_class=3)  # RGB, other sizes
    data = load_dataset(f"folder:{tmp_path}")
    assert data.classes == ("cat", "dog") and len(data.train_y) + len(data.val_y) == 10
    assert data.test_x.shape == (6, 1, 24, 24) and data.test_x.dtype == torch.uint8  # training mode and size
    assert data.test_y.tolist() == [0, 0, 0, 1, 1, 1] and data.test_source == str(tmp_path / "test")
    assert data.test_at(16)[0].shape == (6, 1, 16, 16)


def test_folder_without_test_holds_a_test_split_out(tmp_path):
    _write_folder(tmp_path / "train", {"a": (8, 8), "b": (8, 8)}, per_class=10)
    data = load_dataset(f"folder:{tmp_path}")
    assert len(data.test_y) == 4 and "no test/ folder next to train/" in data.test_source


def test_folder_test_classes_must_match_train(tmp_path):
    _write_folder(tmp_path / "train", {"a": (8, 8), "b": (8, 8), "c": (8, 8)})
    _write_folder(tmp_path / "test", {"a": (8, 8), "b": (8, 8), "d": (8, 8)})
    with pytest.raises(DataError) as exc:
        load_dataset(f"folder:{tmp_path}")
    text = _one_line(exc)
    assert "missing in test/: c" in text and "only in test/: d" in text and str(tmp_path / "test") in text
    shutil.rmtree(tmp_path / "test" / "d")
    (tmp_path / "test" / "c").mkdir()  # the right names, but a class without test images
    with pytest.raises(DataError, match=r"class folder .*c has no images"):
        load_dataset(f"folder:{tmp_path}")
