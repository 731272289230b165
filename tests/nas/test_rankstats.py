"""Rank correlations (nas.rankstats) against hand-computed values and scipy."""

import math
import random

import pytest

from nas.rankstats import average_ranks, kendall, spearman


def test_rank_correlations_against_hand_computed_values():
    assert average_ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]
    # ties in y only: ranks of y are 1, 2, 3.5, 5, 3.5
    x, y = [1, 2, 3, 4, 5], [5, 6, 7, 8, 7]
    assert spearman(x, y) == pytest.approx(8 / math.sqrt(95))  # 0.8208
    assert kendall(x, y) == pytest.approx(7 / math.sqrt(10 * 9))  # C=8, D=1, one pair tied in y: tau-b 0.7379
    # ties in both: ranks 1.5,1.5,3,4 and 1,2.5,2.5,4 -> 3.75 / 4.5; C=4, D=0, one tie each -> 4 / 5
    assert spearman([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(3.75 / 4.5)
    assert kendall([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1) and kendall([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert kendall([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx((4 - 2) / 6)
    assert spearman([1, 2, 3, 4], [2, 1, 4, 3]) == pytest.approx(1 - 6 * 4 / (4 * 15))
    # undefined: a constant side, or fewer than two points
    assert spearman([1, 2, 3], [4, 4, 4]) is None and kendall([1, 2, 3], [4, 4, 4]) is None
    assert spearman([1], [2]) is None and kendall([], []) is None
    with pytest.raises(ValueError):
        spearman([1, 2], [1])


def test_rank_correlations_match_scipy_when_it_is_there():
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for _ in range(20):
        n = rng.randint(3, 12)
        x = [rng.randint(0, 4) for _ in range(n)]  # plenty of ties
        y = [rng.randint(0, 4) for _ in range(n)]
        if len(set(x)) < 2 or len(set(y)) < 2:
            continue
        assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
        assert kendall(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
