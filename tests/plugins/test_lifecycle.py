"""One plugin process per store: started when first needed, shared by threads, and always
stopped and reaped: on close, on Ctrl-C, at interpreter exit. Also what crosses the protocol."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from cavorite_py import consent
from cavorite_py.errors import (
    AccessDenied,
    ObjectExists,
    ObjectNotFound,
    PluginError,
    StoreError,
    StoreUnavailable,
)
from cavorite_py.fsutil import is_temp_name
from cavorite_py.stores.base import ObjectInfo

from .conftest import MakePlugin, OpenStore, gone, reaped, wait_for_file, write_executable

HANG_ON_STAT = (
    'if op == "stat":\n'
    '    open(os.environ["PIDFILE"], "w").write(f"{os.getpid()}\\n")\n'
    "    time.sleep(60)\n"
)


@pytest.fixture
def pidfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "plugin.pid"
    monkeypatch.setenv("PIDFILE", str(path))
    return path


def test_started_lazily_and_once_for_all_threads(
    make_plugin: MakePlugin, open_store: OpenStore, tmp_path: Path
) -> None:
    starts = tmp_path / "starts"
    plugin = make_plugin(f'if op == "hello":\n    open({str(starts)!r}, "a").write("x")\n')
    store = open_store(plugin)
    assert store.pid is None
    assert not starts.exists()
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(store.stat, [f"k{i}" for i in range(64)]))
    assert results == [None] * 64
    assert starts.read_text() == "x"


def test_close_reaps_the_plugin_and_is_final(
    make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    store = open_store(make_plugin())
    store.stat("a")
    pid = store.pid
    assert pid is not None
    store.close()
    assert reaped(pid)
    store.close()
    with pytest.raises(PluginError, match="the store was closed"):
        store.stat("a")


def test_close_of_a_never_started_store(make_plugin: MakePlugin, open_store: OpenStore) -> None:
    store = open_store(make_plugin())
    store.close()
    assert store.pid is None


def test_close_during_a_request_stops_the_plugin(
    make_plugin: MakePlugin, open_store: OpenStore, pidfile: Path
) -> None:
    """What the engine does after Ctrl-C while its worker threads wait on the plugin."""
    store = open_store(make_plugin(HANG_ON_STAT), plugin_timeout=30)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            store.stat("a")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    pid = int(wait_for_file(pidfile))
    start = time.monotonic()
    store.close()
    thread.join(10)
    assert time.monotonic() - start < 6
    assert reaped(pid)
    assert len(errors) == 1
    assert isinstance(errors[0], PluginError)


def test_ctrl_c_during_a_request_stops_the_plugin(
    make_plugin: MakePlugin, open_store: OpenStore, pidfile: Path
) -> None:
    store = open_store(make_plugin(HANG_ON_STAT), plugin_timeout=30)
    me = threading.get_ident()

    def interrupt() -> None:
        wait_for_file(pidfile)
        signal.pthread_kill(me, signal.SIGINT)

    threading.Thread(target=interrupt).start()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        store.stat("a")
    assert time.monotonic() - start < 5
    assert reaped(int(wait_for_file(pidfile)))
    with pytest.raises(PluginError, match="was stopped: KeyboardInterrupt during stat 'a'"):
        store.stat("b")


OPEN_AND_STAT = """
import sys
from pathlib import Path
from cavorite_py.stores.base import StoreSettings
from cavorite_py.stores.plugin import PluginStore
store = PluginStore(StoreSettings("objects", {"plugin_address": sys.argv[1]}, Path(sys.argv[2])))
store.stat("a.bin")
print(store.pid, flush=True)
"""


def run_script(plugin: Path, tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, consent.ENV_VAR: str(plugin)}
    return subprocess.Popen(
        [sys.executable, "-c", OPEN_AND_STAT, str(plugin), str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return gone(pid)


def test_sigint_to_cavorite_leaves_no_plugin_behind(
    make_plugin: MakePlugin, tmp_path: Path, pidfile: Path, consent_config: Path
) -> None:
    """A real Ctrl-C: the plugin has its own process group, so only cavorite gets the signal,
    and it must stop the plugin itself."""
    plugin = make_plugin(HANG_ON_STAT)
    proc = run_script(plugin, tmp_path)
    plugin_pid = int(wait_for_file(pidfile))
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in stderr
    assert wait_gone(plugin_pid)


def test_interpreter_exit_stops_a_plugin_left_open(tmp_path: Path, consent_config: Path) -> None:
    """Without close(), and with a plugin that ignores the end of its input."""
    plugin = write_executable(
        tmp_path / "stubborn.py",
        f"#!{sys.executable}\n"
        "import json, sys, time\n"
        "for line in sys.stdin:\n"
        "    request = json.loads(line)\n"
        '    reply = {"id": request["id"], "ok": True, "protocol": 1, "name": "s", '
        '"found": False}\n'
        '    sys.stdout.write(json.dumps(reply) + "\\n")\n'
        "    sys.stdout.flush()\n"
        "time.sleep(60)\n",
    )
    proc = run_script(plugin, tmp_path)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert wait_gone(int(stdout))


def test_stderr_goes_to_the_log_not_into_the_protocol(
    make_plugin: MakePlugin, open_store: OpenStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cavorite_py.plugin")
    plugin = make_plugin(
        'if op == "hello":\n    sys.stderr.write("warming up {\\"id\\": 1}\\n")\n'
        "    sys.stderr.flush()\n"
    )
    store = open_store(plugin)
    assert store.stat("a") is None
    store.close()
    records = [r for r in caplog.records if r.name == "cavorite_py.plugin"]
    assert any(r.getMessage() == f'{plugin}: warming up {{"id": 1}}' for r in records)


def test_settings_sent_in_the_handshake(
    make_plugin: MakePlugin, open_store: OpenStore, tmp_path: Path
) -> None:
    seen = tmp_path / "hello.json"
    plugin = make_plugin(f'if op == "hello":\n    open({str(seen)!r}, "w").write(line)\n')
    open_store(plugin, "s3://bucket/x", plugin_timeout=5, region="eu", custom={"a": 1}).stat("a")
    hello = json.loads(seen.read_text())
    assert hello["op"] == "hello"
    assert hello["protocol"] == 1
    assert hello["client"].startswith("cavorite-py")
    assert hello["backend_address"] == "s3://bucket/x"
    assert hello["root"] == str(tmp_path)
    assert hello["options"] == {"region": "eu", "custom": {"a": 1}}
    assert list(hello)[-1] == "options"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("not_found", ObjectNotFound),
        ("exists", ObjectExists),
        ("access_denied", AccessDenied),
        ("unavailable", StoreUnavailable),
        ("other", StoreError),
        ("no_such_code", StoreError),
    ],
)
def test_error_answers_map_to_error_types(
    make_plugin: MakePlugin, open_store: OpenStore, code: str, expected: type[StoreError]
) -> None:
    plugin = make_plugin(
        'if op == "delete":\n'
        '    code = request["key"]\n'
        '    send({"id": rid, "ok": False, "error": code, "message": f"no luck\\nwith {code}"})\n'
        "    continue\n"
    )
    store = open_store(plugin)
    with pytest.raises(StoreError) as exc:
        store.delete(code)
    assert type(exc.value) is expected
    assert str(exc.value) == f"plugin fake: no luck with {code}"
    pid = store.pid
    assert store.stat("still-working") is None  # an error answer is not a failure of the plugin
    assert store.pid == pid


def test_stat_answered_with_not_found_is_none(
    make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    plugin = make_plugin(
        'if op == "stat":\n    send({"id": rid, "ok": False, "error": "not_found"})\n    continue\n'
    )
    assert open_store(plugin).stat("a") is None


def test_progress_messages_and_the_remainder(
    make_plugin: MakePlugin, open_store: OpenStore, tmp_path: Path
) -> None:
    plugin = make_plugin(
        'if op == "put" and request["key"] == "chatty":\n'
        '    send({"id": rid, "progress": 3})\n'
        '    send({"id": rid, "progress": 4})\n'
    )
    store = open_store(plugin)
    source = tmp_path / "src"
    source.write_bytes(b"0123456789")
    chatty: list[int] = []
    store.put("chatty", source, ObjectInfo(10), progress=chatty.append)
    assert chatty == [3, 4, 3]
    quiet: list[int] = []
    store.put("quiet", source, ObjectInfo(10), progress=quiet.append)
    assert quiet == [10]


def test_list_in_chunks_of_a_hundred_thousand_keys(
    make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    plugin = make_plugin(
        'if op == "list":\n'
        "    for c in range(100):\n"
        "        keys = [f\"{request['prefix']}{c}/{i}.bin\" for i in range(1000)]\n"
        '        send({"id": rid, "ok": True, "keys": keys + ["elsewhere"], "more": c < 99})\n'
        "    continue\n"
    )
    store = open_store(plugin)
    start = time.monotonic()
    keys = list(store.list("team/"))
    assert time.monotonic() - start < 10
    assert len(keys) == len(set(keys)) == 100_000
    assert all(k.startswith("team/") for k in keys)


def test_get_streams_the_plugin_file_and_removes_it(
    make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    plugin = make_plugin('if op == "get":\n    open(request["path"], "xb").write(b"payload")\n')
    store = open_store(plugin)
    sink = io.BytesIO()
    store.get("a", sink)
    assert sink.getvalue() == b"payload"
    session = store._live.session
    assert session is not None
    assert list(session.tempdir.iterdir()) == []
    store.close()
    assert not session.tempdir.exists()


GET_RECORDING_PATH = (
    'if op == "get":\n'
    '    open(os.environ["GETPATHS"], "a").write(request["path"] + "\\n")\n'
    '    open(request["path"], "xb").write(b"payload")\n'
    "    ok(rid)\n"
    "    continue\n"
)


@pytest.fixture
def get_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "get-paths.txt"
    monkeypatch.setenv("GETPATHS", str(path))
    return path


def test_get_goes_through_plugin_tmpdir(
    make_plugin: MakePlugin, open_store: OpenStore, tmp_path: Path, get_paths: Path
) -> None:
    (tmp_path / "scratch").mkdir()
    store = open_store(make_plugin(GET_RECORDING_PATH), plugin_tmpdir="scratch")
    assert store.tmpdir == tmp_path / "scratch"
    sink = io.BytesIO()
    store.get("a", sink)
    assert sink.getvalue() == b"payload"
    [used] = get_paths.read_text().split()
    assert Path(used).parent == tmp_path / "scratch"
    assert is_temp_name(Path(used).name)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_get_into_a_real_file_goes_through_its_directory(
    make_plugin: MakePlugin, open_store: OpenStore, tmp_path: Path, get_paths: Path
) -> None:
    store = open_store(make_plugin(GET_RECORDING_PATH))
    target_dir = tmp_path / "checkout" / "assets"
    target_dir.mkdir(parents=True)
    with open(target_dir / ".a.bin.cavorite-tmp-0123456789ab", "xb") as f:
        store.get("a", f)
    [used] = get_paths.read_text().split()
    assert Path(used).parent == target_dir  # the same file system: no copy through /tmp
    assert is_temp_name(Path(used).name)
    assert [p.name for p in target_dir.iterdir()] == [".a.bin.cavorite-tmp-0123456789ab"]
    assert (target_dir / ".a.bin.cavorite-tmp-0123456789ab").read_bytes() == b"payload"


def test_a_failed_get_leaves_nothing_in_plugin_tmpdir(
    make_plugin: MakePlugin, open_store: OpenStore, tmp_path: Path
) -> None:
    (tmp_path / "scratch").mkdir()
    plugin = make_plugin(
        'if op == "get":\n'
        '    open(request["path"], "xb").write(b"half")\n'
        '    send(dict(id=rid, ok=False, error="unavailable", message="gone"))\n'
        "    continue\n"
    )
    store = open_store(plugin, plugin_tmpdir=str(tmp_path / "scratch"))
    with pytest.raises(StoreUnavailable):
        store.get("a", io.BytesIO())
    assert list((tmp_path / "scratch").iterdir()) == []


def test_plugin_tmpdir_is_not_sent_to_the_plugin(tmp_path: Path) -> None:
    from cavorite_py.plugin_protocol import messages
    from cavorite_py.stores.base import StoreSettings

    settings = StoreSettings("x", {"plugin_tmpdir": "scratch", "k": 1}, tmp_path)
    assert messages.hello(settings, "c")["options"] == {"k": 1}


def test_description_never_shows_secrets_of_the_address(
    make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    """The engine puts describe() into error messages (an object not found...)."""
    store = open_store(
        make_plugin(),
        address="https://alice:s3cr3t@host.example/bucket/team?sv=1&sig=T0PS3CRET#frag",
    )
    described = store.describe()
    assert described.startswith("https://host.example/bucket/team (through plugin ")
    for secret in ("alice", "s3cr3t", "sig=", "T0PS3CRET", "frag"):
        assert secret not in described
