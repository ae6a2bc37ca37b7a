"""analysis.cli_parser: the number types every command line shares, and the one-line parser."""

from __future__ import annotations

import argparse

import pytest

from analysis.cli_parser import OneLineParser, number, positive_float, positive_int


def test_number_types_accept_their_range_and_word_the_rest() -> None:
    assert positive_int("3") == 3 and positive_float("0.5") == 0.5
    cases = ((positive_int, "0", "0"), (positive_int, "ten", "'ten'"), (positive_int, "1.5", "'1.5'"),
             (positive_float, "0", "0"), (positive_float, "inf", "inf"), (positive_float, "nan", "nan"),
             (positive_float, "x", "'x'"))
    for parse, text, shown in cases:
        with pytest.raises(argparse.ArgumentTypeError, match="must be a positive") as error:
            parse(text)
        assert str(error.value).endswith(f"got {shown}")
    at_least_minus_one = number(int, -1, inclusive=True, what="an integer >= -1")
    assert at_least_minus_one("-1") == -1
    with pytest.raises(argparse.ArgumentTypeError, match="must be an integer >= -1, got -2"):
        at_least_minus_one("-2")
    assert positive_int.__name__ == "int" and positive_float.__name__ == "float"  # argparse names the type


def test_a_bad_flag_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    parser = OneLineParser(prog="python -m analysis.report")
    parser.add_argument("--at-epoch", type=positive_int)
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--at-epoch", "0"])
    error = capsys.readouterr().err
    assert exit_info.value.code == 2 and error.count("\n") == 1
    assert error.startswith("error: argument --at-epoch: must be a positive integer, got 0")
    with pytest.raises(SystemExit):
        parser.parse_args(["--at", "2"])  # no abbreviations
