"""Every subcommand is registered, documented with examples, and fails cleanly on bad flags."""

from __future__ import annotations

import pytest

from effsearch.cli import COMMANDS, build_parser, main


def test_all_commands_are_registered():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_help_has_examples(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"effsearch {command}" in out


def test_top_level_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


def test_unknown_flag_is_one_line_and_exit_1(capsys):
    assert main(["show", "efficientnet-b0", "--colour"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("effsearch: error: unrecognized arguments: --colour") and err.count("\n") == 1
