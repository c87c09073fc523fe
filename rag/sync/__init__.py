"""A folder kept in sync with a collection (``rag sync``, RAG_SYNC_DIRS): new files added, changed ones replaced,
gone ones deleted, each pass reported."""

from rag.sync.errors import SyncFolderError, SyncStateError
from rag.sync.folder import FolderSync, PassHooks
from rag.sync.plan import Held, SyncPlan, plan_pass
from rag.sync.report import SyncDuplicate, SyncFailure, SyncReport
from rag.sync.scan import LocalFile, scan_folder, syncable
from rag.sync.watch import DEBOUNCE_MS, watch_folder

__all__ = [
    "DEBOUNCE_MS",
    "FolderSync",
    "Held",
    "LocalFile",
    "PassHooks",
    "SyncDuplicate",
    "SyncFailure",
    "SyncFolderError",
    "SyncPlan",
    "SyncReport",
    "SyncStateError",
    "plan_pass",
    "scan_folder",
    "syncable",
    "watch_folder",
]
