import pytest

from keras_ser.cli import main


def test_cost_command_prints_parameters_and_flops(capsys):
    assert main(["cost", "a1", "alexnet quaternion", "--no-timing"]) == 0
    out = capsys.readouterr().out
    assert "| alexnet quaternion | 64x64x4   | 14,276,292 |" in out
    assert "12,475,455" in out and "train step" not in out


def test_cost_command_rejects_unknown_rows(capsys):
    assert main(["cost", "lenet", "--no-timing"]) == 2
    assert "unknown cost-table models ['lenet']" in capsys.readouterr().err


def test_cli_requires_a_command():
    with pytest.raises(SystemExit):
        main([])
