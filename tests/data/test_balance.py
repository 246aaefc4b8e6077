import random
from collections import Counter

import pytest

from voxrecipes.data.balance import PRIMARY_CLASSES, balanced_subset, filter_classes
from voxrecipes.data.table import c_sort_key

SIZES = {"A": 500, "S": 301, "H": 300, "U": 120, "F": 7, "D": 0, "C": 299, "N": 2000, "O": 400, "X": 350}


def corpus():
    utt2cat = {}
    i = 0
    for c, n in SIZES.items():
        for _ in range(n):
            utt2cat[f"MSP_{i:05d}"] = c
            i += 1
    items = list(utt2cat.items())
    random.Random(5).shuffle(items)  # input order must not matter
    return dict(items)


def test_filter_classes():
    u2c = corpus()
    filt = filter_classes(u2c)
    assert len(filt) == sum(SIZES.values()) - 400 - 350
    assert not {"O", "X"} & set(filt.values())
    assert list(filt) == sorted(filt, key=c_sort_key)
    assert len(filter_classes(u2c, drop=("N",))) == sum(SIZES.values()) - 2000


def test_balanced_subset_exact_sizes():
    u2c = corpus()
    bal = balanced_subset(u2c, per_class=300, seed=0)
    counts = Counter(bal.values())
    assert counts == {"A": 300, "S": 300, "H": 300, "U": 120, "F": 7, "C": 299, "N": 300}
    assert len(bal) == 300 * 4 + 120 + 7 + 299
    assert set(counts) <= set(PRIMARY_CLASSES)
    assert list(bal) == sorted(bal, key=c_sort_key)
    assert all(u2c[u] == c for u, c in bal.items())


def test_balanced_subset_deterministic_and_seeded():
    u2c = corpus()
    a = balanced_subset(u2c, seed=0)
    b = balanced_subset(dict(sorted(u2c.items())), seed=0)  # other input order, same set
    assert a == b
    c = balanced_subset(u2c, seed=1)
    assert set(a) != set(c) and len(a) == len(c)
    small = balanced_subset(u2c, per_class=2, classes=("F", "O"), seed=3)
    assert Counter(small.values()) == {"F": 2, "O": 2}


def test_balanced_subset_bad_options():
    with pytest.raises(ValueError, match="per_class"):
        balanced_subset({}, per_class=0)
    with pytest.raises(ValueError, match="repeat"):
        balanced_subset({}, classes=("A", "A"))
