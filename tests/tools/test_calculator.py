import pytest

from rlreason.tools.calculator import calculator


@pytest.mark.parametrize(
    ("expression", "result"),
    [("347 * 29 + 18", "10081"), ("(12 - 7) * 3", "15"), ("7 / 2", "3.5"), ("10 / 4 * 2", "5"), ("-3 ** 2", "-9")],
)
def test_arithmetic_is_evaluated_whole_numbers_without_a_decimal_point(expression, result):
    assert calculator(expression) == result


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os').system('true')", "unsupported element"),
        ("x + 1", "unsupported element"),
        ("2 +", "not an arithmetic expression"),
        ("9 ** 9 ** 9", "exponent"),
        ("1 / 0", "division by zero"),
        ("10.0 ** 40", "out of range"),
    ],
)
def test_anything_but_bounded_arithmetic_is_refused_with_the_reason(expression, reason):
    with pytest.raises(ValueError, match=reason):
        calculator(expression)
