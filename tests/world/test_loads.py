"""A load's class: the class most of its customers have."""

import numpy as np

from twin.grid.schema import CustomerClass
from twin.world.loads import majority_class


def test_majority_class_per_load():
    rng = np.random.default_rng(1)
    owner = rng.integers(-1, 50, 1000)
    cls = rng.integers(0, 3, 1000)
    fast = majority_class(owner, cls, 52)  # two loads without customers
    for row in range(52):
        codes, counts = np.unique(cls[owner == row], return_counts=True)
        assert fast[row] == (codes[np.argmax(counts)] if len(codes) else int(CustomerClass.residential))
