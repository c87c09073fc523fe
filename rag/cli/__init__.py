"""The ``rag`` command line: ingest, search, ask, serve (and generate, bench)."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from core.errors import RAGError
from rag.private import UMASK
from rag.settings import Settings

# The module of each command; a module exposes ``register(subparsers)`` and gives its parsers
# ``parents=[GLOBAL_OPTIONS]``. A run imports only the module of the command it names (see build_parser).
_COMMANDS = {
    "ingest": "rag.cli.documents",
    "search": "rag.cli.documents",
    "ask": "rag.cli.documents",
    "sync": "rag.cli.sync",
    "serve": "rag.cli.serve",
    "mcp": "rag.cli.mcp",
    "generate": "rag.cli.generate",
    "models": "rag.cli.models",
    "bench": "rag.cli.bench",
    "eval": "rag.cli.eval",
}
_VALUE_OPTIONS = ("--data-dir", "--index-spec", "--generator")  # the global options that take a value


def _add_global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """The options every command accepts; ``suppress`` leaves them out of the namespace unless given."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--data-dir", default=default, help="store directory (env RAG_DATA_DIR, default ./data)")
    parser.add_argument(
        "--index-spec",
        default=default,
        help="index type for new collections, e.g. Flat or HNSW32 (env RAG_INDEX_SPEC)",
    )
    parser.add_argument(
        "--generator", default=default, help="generator backend: torch, transformers or llama-cpp (env RAG_GENERATOR)"
    )
    verbose_default = argparse.SUPPRESS if suppress else False
    parser.add_argument("-v", "--verbose", action="store_true", default=verbose_default, help="log progress details")


# Parent of every (sub)command's parser, so the global options may also follow the command's name. Its
# defaults are suppressed: a subparser writes its values over the top-level namespace, and a default there
# would reset a value given before the command.
GLOBAL_OPTIONS = argparse.ArgumentParser(add_help=False)
_add_global_options(GLOBAL_OPTIONS, suppress=True)


def add_server_option(parser: argparse.ArgumentParser) -> None:
    """``--server URL``, for the commands that may work through a running ``rag serve``."""
    parser.add_argument(
        "--server",
        metavar="URL",
        help="send the work to the rag serve at URL (with RAG_API_KEY or RAG_ADMIN_KEY). Without it, the server "
        "named in <data-dir>/server.json is used when it holds the data directory and runs on this machine",
    )


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with a ``command`` of :data:`_COMMANDS`, only the module that registers it is imported.

    ``rag generate`` then loads neither the query pipeline nor duckdb, and the llama.cpp backend no torch.
    """
    parser = argparse.ArgumentParser(prog="rag", description="Local retrieval-augmented generation.")
    _add_global_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    names = [_COMMANDS[command]] if command in _COMMANDS else dict.fromkeys(_COMMANDS.values())
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def command_in(argv: list[str]) -> str | None:
    """The command ``argv`` names: its first word that is neither an option nor a global option's value.

    A word it takes for the command that is none (an abbreviated option's value) only costs
    :func:`build_parser` the import of every command's module.
    """
    words = iter(argv)
    for word in words:
        if word in _VALUE_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment settings with the CLI's global flags applied on top."""
    return Settings.from_env().replace(
        data_dir=getattr(args, "data_dir", None),  # absent where a parser was built without the global options
        index_spec=getattr(args, "index_spec", None),
        generator=getattr(args, "generator", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(command_in(argv)).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request to a running server is noise
    # What a command writes (the store, uploads, server.json) is its user's only; put back for callers in-process.
    umask = os.umask(UMASK)
    try:
        return int(args.func(args) or 0)
    except RAGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        os.umask(umask)


if __name__ == "__main__":
    sys.exit(main())
