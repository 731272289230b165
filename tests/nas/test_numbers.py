"""The one number formatter and its styles (the pareto table, progress lines, reports, noise floors)."""

import pytest

from nas.numbers import cell, number, score, stat, tolerance


@pytest.mark.parametrize("v, cells", [
    (None, ("-", "None", "-", "?")),
    (0.0, ("0", "0", "0", "0")),
    (12345.678, ("1.235e+04", "1.235e+04", "1.23e+04", "1.23e+04")),
    (123456.0, ("1.235e+05", "1.235e+05", "1.23e+05", "1.23e+05")),
    (0.000123, ("0.000123", "0.000123", "1.23e-04", "1.23e-04")),
    (0.5, ("0.5", "0.5", "0.5", "0.5")),
    (float("nan"), ("nan", "nan", "nan", "nan")),
])
def test_styles(v, cells):
    assert (cell(v), score(v), stat(v), tolerance(v)) == cells


def test_non_floats_print_as_they_are():
    assert cell(7) == score(7) == stat(7) == "7" and cell("x") == "x"
    assert stat(0.0123) == "0.012" and stat(0.01, digits=4) == "0.01" and number(2.5, digits=2) == "2.5"
