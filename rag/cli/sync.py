"""``rag sync``: keep a folder and a collection equal (once, or while watching the folder)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from core.errors import InvalidInputError
from rag.cli import GLOBAL_OPTIONS

SYNC_HELP = """Each supported file under DIR is stored under its path relative to DIR. Later runs add new files,
replace changed ones (by content: a touch does nothing), and delete the documents of files that are gone.
Only documents this command stored are deleted: uploads into the same collection stay. Hidden and
temporary files (.*, ~$*, *~, *.swp) are skipped, and links that lead out of DIR are not followed.

exit status:
  0  the collection holds every file of DIR (with --watch: Ctrl-C stopped it)
  1  at least one file could not be synced; the others were, and the report names each with its reason
  2  nothing was synced: DIR or the collection does not exist, or a setting or argument is invalid"""


def register(sub) -> None:
    p = sub.add_parser(
        "sync",
        parents=[GLOBAL_OPTIONS],
        help="keep a folder and a collection equal",
        epilog=SYNC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dir", metavar="DIR", help="the folder to sync")
    p.add_argument("--collection", required=True, help="the collection that mirrors DIR")
    p.add_argument("--create", action="store_true", help="create the collection if it does not exist")
    p.add_argument("--watch", action="store_true", help="keep syncing as files change, until Ctrl-C")
    p.add_argument(
        "--allow-empty",
        action="store_true",
        help="let an empty DIR empty the collection (without it that pass is refused: an unmounted drive looks empty)",
    )
    p.add_argument("--json", action="store_true", help="print each pass's report as one line of JSON")
    p.add_argument("--batch", type=int, default=16, help="files stored per write")
    p.add_argument("--debounce", type=int, default=None, metavar="MS", help="with --watch: wait for quiet (ms)")
    p.set_defaults(func=cmd_sync)


def cmd_sync(args: argparse.Namespace) -> int:
    """One pass, or (``--watch``) a pass now and one per batch of changes; see SYNC_HELP for the exit status."""
    from rag.cli import settings_from
    from rag.cli.documents import _platform
    from rag.server_file import running_server
    from rag.sync import DEBOUNCE_MS, FolderSync, SyncFolderError, watch_folder

    folder = Path(args.dir)
    if not folder.is_dir():
        raise SyncFolderError(f"{folder} is not a folder: give the folder to sync")
    data_dir = settings_from(args).data_dir
    server = running_server(data_dir)
    if server is not None:
        raise InvalidInputError(
            f"the server at {server.url} holds {data_dir}: let it sync the folder (RAG_SYNC_DIRS="
            f"{args.collection}:{folder.resolve()}) or stop it first"
        )
    with contextlib.ExitStack() as stack:
        platform = _platform(args)
        stack.callback(platform.close)
        sync = FolderSync(
            platform.ingest_pipeline, args.collection, folder, args.create, args.batch, args.allow_empty
        )
        if not args.watch:
            return _print(sync.run(), args.json)
        try:
            for _ in watch_folder(folder, debounce_ms=args.debounce or DEBOUNCE_MS):
                _print(sync.run(), args.json)
                sys.stdout.flush()
        except KeyboardInterrupt:
            print("sync: stopped watching", file=sys.stderr)
    return 0


def _print(report, as_json: bool) -> int:
    """Print a pass's report (a line per file that changed, then the counts); 1 when a file failed."""
    if as_json:
        print(json.dumps(report.as_dict()))
    else:
        for what, keys in (("added", report.added), ("replaced", report.replaced), ("deleted", report.deleted)):
            for key in keys:
                print(f"{what} {key}")
        for d in report.duplicates:
            print(f"duplicate {d.file}: {d.of}")
        for f in report.failed:
            print(f"failed {f.file}: {f.reason}")
        print(report.summary(), file=sys.stderr)
    return 1 if report.failed else 0
