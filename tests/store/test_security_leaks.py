"""A secret in an exception message never reaches what Ripple keeps or prints.

The pipeline below fails three ways: a sensitive node raising with its own secret, a node raising
with the sensitive value it was given, and a node with no sensitive input that quotes the secret
anyway. The sentinel must be absent from the store's files, the run history, ``--json``, stderr,
the events the dashboard consumes and the OpenLineage events.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import Driver
from engine.cli import main
from engine.store import Store

SENTINEL = "SENTINEL-7f3a9c-secret"

PIPE = f'''
from engine import tag

SECRET = {SENTINEL!r}

@tag(sensitive=True)
def api_token() -> str:
    return SECRET

def token_len(api_token: str) -> int:
    return len(api_token)

def call_api(api_token: str) -> str:
    raise ValueError(f"auth failed for token {{api_token}}")

@tag(sensitive=True)
def password(token_len: int) -> str:
    local = SECRET + "-pw"
    raise RuntimeError("cannot derive " + local)

def leaky(token_len: int) -> str:
    raise KeyError("lookup of " + SECRET + " failed")
'''


@pytest.fixture(autouse=True)
def _own_key_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def _store_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def test_secret_absent_from_json_stderr_store_and_history(tmp_path: Path, pipeline, capsys) -> None:
    path = pipeline(PIPE)
    cache = tmp_path / "cache"
    code = main(["run", path, "--json", "--cache-dir", str(cache), "--outputs", "call_api,password,leaky"])
    out, err = capsys.readouterr()
    assert code == 1
    doc = json.loads(out)
    assert SENTINEL not in out and SENTINEL not in err
    errors = {n["name"]: n.get("error", "") for n in doc["nodes"]}
    assert errors["call_api"].startswith("ValueError") and "withheld" in errors["call_api"]
    assert errors["password"].startswith("RuntimeError") and "withheld" in errors["password"]
    assert "<sensitive>" in errors["leaky"]  # no sensitive input: kept, with the secret scrubbed
    assert SENTINEL.encode() not in _store_bytes(cache)
    with Store(cache) as st:
        rows = st.run_nodes(st.last_run().run_id)
    failed = {r.node: r for r in rows if r.status == "failed"}
    assert set(failed) == {"call_api", "password", "leaky"}
    tb = failed["call_api"].traceback
    assert "line" in tb and "call_api" in tb and "raise" not in tb  # location, no source line
    assert all(SENTINEL not in (r.error or "") + (r.traceback or "") for r in rows)
    # the plain (non-JSON) report too
    code = main(["run", path, "--cache-dir", str(cache), "--outputs", "call_api,leaky", "-v"])
    out, err = capsys.readouterr()
    assert code == 1 and SENTINEL not in out + err


def test_secret_absent_from_events_and_lineage(tmp_path: Path, make_module, capsys) -> None:
    mod = make_module(PIPE)
    dr = Driver({}, mod).with_cache(tmp_path / "cache")
    seen: list[str] = []
    dr.add_listener(lambda e: seen.append(e.to_json()))  # what the dashboard and watch consume
    result = dr.run(["call_api", "password", "leaky"])
    assert result.status == "failed"
    assert seen and all(SENTINEL not in line for line in seen)
    dr.cache.close()
    code = main(["lineage", "emit", str(Path(mod.__file__)), "--print", "--cache-dir", str(tmp_path / "c2")])
    out, err = capsys.readouterr()
    assert code in (0, 1) and "errorMessage" in out
    assert SENTINEL not in out and SENTINEL not in err
