"""The parity rule itself (tests/helpers/parity.py): it fails where it must, so no parity test can pass vacuously."""
import math

import pytest
import torch

import parity


@pytest.fixture(autouse=True)
def _own_log(monkeypatch):
    """These deliberate failures stay out of the per-family summary."""
    monkeypatch.setattr(parity, "LOG", type(parity.LOG)(parity.LOG.default_factory))


def test_within_twice_the_reference_error_passes_and_beyond_fails():
    oracle = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    theirs = oracle + 1e-5
    parity.assert_parity("rule-self-test", "inside", oracle + 2e-5, theirs, oracle)
    with pytest.raises(AssertionError, match="above 2 \\* 1.000e-05"):
        parity.assert_parity("rule-self-test", "outside", oracle + 2.5e-5, theirs, oracle)  # bound: 2e-5 + 1e-6 * 3


def test_atol_scales_with_the_output_magnitude():
    assert parity.bound(0.0) == parity.ATOL
    assert parity.bound(0.0, scale=0.5) == parity.ATOL  # never below the plain atol
    assert parity.bound(1e-6, scale=20.0) == pytest.approx(2e-6 + 20 * parity.ATOL)
    assert parity.magnitude(torch.tensor([[1.0, -30.0], [2.0, 99.0]]), torch.tensor([True, False])) == 30.0


def test_padding_is_excluded_and_an_empty_selection_fails():
    oracle = torch.zeros(2, 3, 4)
    ours = oracle.clone()
    ours[1, 2] = 5.0  # a padded position: free to differ
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    assert parity.errors(ours, oracle, oracle, mask) == (0.0, 0.0)
    with pytest.raises(AssertionError, match="nothing to compare"):
        parity.errors(ours, oracle, oracle, torch.zeros(2, 3))
    with pytest.raises(AssertionError):
        parity.errors(ours, oracle, oracle, torch.ones(3, 2))  # a mask of the wrong shape


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_nan_or_inf_anywhere_fails(bad):
    oracle = torch.ones(3)
    broken = torch.tensor([1.0, bad, 1.0])
    with pytest.raises(AssertionError, match="NaN or inf"):
        parity.errors(broken, oracle, oracle)
    with pytest.raises(AssertionError, match="NaN or inf"):
        parity.errors(oracle, broken, oracle)  # a broken reference would make the bound meaningless
    with pytest.raises(AssertionError, match="NaN or inf"):
        parity.errors(oracle, oracle, broken)
    with pytest.raises(AssertionError):
        parity.check("rule-self-test", "nan", math.nan, 0.0)


def test_shapes_must_match():
    with pytest.raises(AssertionError):
        parity.errors(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 2))


def test_top_k_order_is_free_only_within_the_tolerance():
    scores = torch.tensor([0.5, 0.3, 0.2999, 0.1, 0.0])
    parity.assert_valid_top_k([0, 1, 2], scores, 1e-3)
    parity.assert_valid_top_k([0, 2, 1], scores, 1e-3)  # 1 and 2 tie within the noise
    parity.assert_valid_top_k([0, 2], scores, 1e-3)  # either may take the last place
    with pytest.raises(AssertionError, match="ranked above a clearly better"):
        parity.assert_valid_top_k([1, 0, 2], scores, 1e-3)
    with pytest.raises(AssertionError, match="was left out"):
        parity.assert_valid_top_k([0, 3], scores, 1e-3)
    with pytest.raises(AssertionError):
        parity.assert_valid_top_k([0, 2, 1], scores, 1e-5)  # the same swap, where the reference separates them
    with pytest.raises(AssertionError):
        parity.assert_valid_top_k([], scores, 1e-3)
