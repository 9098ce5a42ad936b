"""Shared fixtures for the project's own tests: a small synthetic DermaMNIST, made once per session."""
import pytest

from locked import data

#: Small enough to train in seconds, large enough that every class is present and lessons show.
TEST_SCALE = 0.2


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A data dir where data.load(root, synthetic_data=True, scale=TEST_SCALE) finds the stand-in."""
    root = tmp_path_factory.mktemp("dermamnist")
    data.load(root, synthetic_data=True, scale=TEST_SCALE)  # writes it once
    return root


@pytest.fixture(scope="session")
def small_splits(synthetic_root):
    return data.load(synthetic_root, synthetic_data=True, scale=TEST_SCALE)
