import subprocess
import sys

from restoration.cli import build_parser, main


def test_help_and_version_exit_zero():
    for flag in ("--help", "--version"):
        proc = subprocess.run([sys.executable, "-m", "restoration", flag], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "restoration" in proc.stdout


def test_help_lists_every_subcommand_module():
    from restoration.cli import _commands

    text = build_parser().format_help()
    for mod in _commands():
        assert mod.NAME in text


def test_help_does_not_load_heavy_modules():
    code = "import sys; from restoration.cli import build_parser; build_parser().format_help(); " \
           "print([m for m in ('torch', 'gradio', 'lpips', 'basicsr') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage" in capsys.readouterr().out
