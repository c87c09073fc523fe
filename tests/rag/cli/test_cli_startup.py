"""What a ``rag`` run loads before its command starts: only the module of the command it names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rag.cli import _COMMANDS, build_parser, command_in
from tests.conftest import REPO

# modules of other commands (the query pipeline, the catalog's database) and of one backend only (torch)
NOT_FOR_GENERATE = ("rag.cli.documents", "rag.pipeline", "rag.store", "duckdb", "pyarrow", "torch", "llama_cpp")


def _subcommands(parser) -> set[str]:
    (action,) = [a for a in parser._actions if a.dest == "command"]
    return set(action.choices)


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["generate", "p", "--json"], "generate"),
        (["--data-dir", "d", "-v", "generate", "p"], "generate"),
        (["--data-dir=d", "--generator", "torch", "serve"], "serve"),
        (["-v", "--index-spec", "Flat"], None),
        (["--help"], None),
        ([], None),
    ],
)
def test_command_in_skips_global_options_and_their_values(argv, command):
    assert command_in(argv) == command


def test_each_command_registers_in_its_own_module():
    assert _subcommands(build_parser()) == set(_COMMANDS)
    for command in _COMMANDS:
        assert command in _subcommands(build_parser(command))
    assert _subcommands(build_parser("no-such-command")) == set(_COMMANDS)  # argparse then names the choices


def test_generate_parses_without_importing_other_commands_or_torch():
    code = (
        "import json, sys\n"
        "from rag.cli import build_parser, command_in\n"
        "argv = ['--data-dir', 'd', 'generate', 'a prompt', '--backend', 'llama-cpp', '--max-tokens', '8']\n"
        "args = build_parser(command_in(argv)).parse_args(argv)\n"
        "print(json.dumps([args.backend, args.max_tokens, sorted(set(sys.modules) & set(json.loads(sys.argv[1])))]))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(NOT_FOR_GENERATE)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["llama-cpp", 8, []]


@pytest.mark.slow  # loads the model twice
def test_a_generator_without_warm_up_answers_the_same():
    from rag.generate.base import ChatMessage, GenerationConfig
    from rag.generate.torch_backend import TorchGenerator

    messages = [ChatMessage("user", "What is retrieval-augmented generation? Answer in two sentences.")]
    config = GenerationConfig(max_tokens=24)
    cold, warm = TorchGenerator(warm_up=False), TorchGenerator()
    answer = cold.generate(messages, config)
    assert answer.generated_tokens > 0
    assert answer.text == warm.generate(messages, config).text
