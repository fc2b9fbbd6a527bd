"""Which commits the post-checkout and post-merge hooks compare, from git's arguments or the
pre-commit framework's variables."""

from __future__ import annotations

from cavorite_py.follow import checkout_range, merge_range

A, B = "a" * 40, "b" * 40


def test_a_branch_checkout_compares_its_two_commits() -> None:
    assert checkout_range([A, B, "1"], {}) == (A, B)
    framework = {"PRE_COMMIT_FROM_REF": A, "PRE_COMMIT_TO_REF": B, "PRE_COMMIT_CHECKOUT_TYPE": "1"}
    assert checkout_range([], framework) == (A, B)


def test_a_file_checkout_looks_at_every_cfile() -> None:
    assert checkout_range([A, A, "0"], {}) == (None, None)
    assert checkout_range([], {}) == (None, None)


def test_a_merge_compares_orig_head_with_head_unless_squashed() -> None:
    assert merge_range(["0"], {}) == ("ORIG_HEAD", "HEAD")
    assert merge_range([], {"PRE_COMMIT_IS_SQUASH_MERGE": "0"}) == ("ORIG_HEAD", "HEAD")
    assert merge_range(["1"], {}) == (None, None)
