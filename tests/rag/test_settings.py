from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from rag.settings import Settings


def test_environment_and_overrides():
    s = Settings.from_env({"RAG_DATA_DIR": "/tmp/x", "RAG_PORT": "9001", "RAG_MAX_UPLOAD_MB": "1.5"})
    assert s.data_dir == Path("/tmp/x") and s.port == 9001 and s.max_upload_bytes == int(1.5 * 1024 * 1024)
    t = s.replace(port=9002, host=None)
    assert t.port == 9002 and t.host == s.host


@pytest.mark.parametrize(
    "env,words",
    [
        ({"RAG_PORT": "eighty"}, "RAG_PORT"),
        ({"RAG_PORT": "0"}, "port"),
        ({"RAG_CHUNK_OVERLAP": "150"}, "chunk_overlap"),
        ({"RAG_INDEX_SPEC": "Nope7"}, "index spec"),
        ({"RAG_GENERATOR": "gpt"}, "generator"),
    ],
)
def test_bad_settings_are_clear(env, words):
    with pytest.raises(ConfigError, match=words):
        Settings.from_env(env)
