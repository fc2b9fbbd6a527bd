"""Plugins that crash, hang, talk nonsense or cannot be run: one clear error, never a hang."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from cavorite_py.errors import ConfigError, PluginError, StoreError
from cavorite_py.stores.base import ObjectInfo

from .conftest import MakePlugin, OpenStore, reaped, wait_for_file, write_executable


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_crash_mid_request_names_plugin_exit_code_and_stderr(
    make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    plugin = make_plugin(
        'if op == "stat":\n'
        '    sys.stderr.write("connecting to backend\\nfatal: bucket exploded\\n")\n'
        "    sys.stderr.flush()\n"
        "    os._exit(3)\n"
    )
    store = open_store(plugin)
    with pytest.raises(PluginError) as exc:
        store.stat("a.bin")
    text = one_line(exc)
    assert str(plugin) in text
    assert "exited with code 3 during stat 'a.bin'" in text
    assert "fatal: bucket exploded" in text


def test_crash_during_handshake(tmp_path: Path, open_store: OpenStore) -> None:
    plugin = write_executable(
        tmp_path / "broken.sh", "#!/bin/sh\necho 'ModuleNotFoundError: boto3' >&2\nexit 1\n"
    )
    with pytest.raises(PluginError) as exc:
        open_store(plugin).stat("a.bin")
    text = one_line(exc)
    assert "exited with code 1 during the handshake" in text
    assert "ModuleNotFoundError: boto3" in text


def test_killed_by_signal(make_plugin: MakePlugin, open_store: OpenStore) -> None:
    plugin = make_plugin('if op == "delete":\n    os.kill(os.getpid(), 9)\n')
    with pytest.raises(PluginError, match="was killed by SIGKILL during delete 'k'"):
        open_store(plugin).delete("k")


def test_garbage_output(make_plugin: MakePlugin, open_store: OpenStore) -> None:
    plugin = make_plugin('if op == "stat":\n    print("hello, world!", flush=True)\n    continue\n')
    store = open_store(plugin)
    with pytest.raises(PluginError) as exc:
        store.stat("a.bin")
    text = one_line(exc)
    assert str(plugin) in text
    assert "broke the protocol during stat 'a.bin': sent a line that is not JSON" in text
    assert "'hello, world!'" in text
    assert reaped(store_pid(store))


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("[1, 2]", "not a protocol message"),
        ('{"id": rid}', "without a true or false 'ok'"),
        ('{"id": rid + 7, "ok": True, "found": False}', "answered request id"),
        ('{"id": rid, "ok": True}', "answered stat without a true or false 'found'"),
        ('{"id": rid, "ok": True, "found": True, "size": -1}', "size that is not a byte count"),
        ('{"id": rid, "ok": True, "found": True, "size": 1, "sha256": "xyz"}', "malformed sha256"),
        ('{"id": rid, "progress": "lots"}', "progress value that is not a byte count"),
    ],
)
def test_malformed_answers(
    make_plugin: MakePlugin, open_store: OpenStore, reply: str, expected: str
) -> None:
    plugin = make_plugin(f'if op == "stat":\n    send({reply})\n    continue\n')
    with pytest.raises(PluginError, match=expected):
        open_store(plugin).stat("a.bin")


def test_other_protocol_at_handshake(tmp_path: Path, open_store: OpenStore) -> None:
    """A Go cavorite plugin (hashicorp go-plugin) prints its own handshake line: refused with
    the way out (the real one is run in tests/interop)."""
    plugin = write_executable(
        tmp_path / "go-plugin", "#!/bin/sh\necho '1|1|unix|/tmp/plugin123|grpc'\nsleep 30\n"
    )
    with pytest.raises(ConfigError) as exc:
        open_store(plugin).stat("a.bin")
    text = one_line(exc)
    assert "is a Cavorite (Go) plugin (hashicorp go-plugin over gRPC)" in text
    assert 'store_type to "localstore"' in text


def test_a_line_that_is_not_json_at_handshake_is_a_protocol_error(
    tmp_path: Path, open_store: OpenStore
) -> None:
    plugin = write_executable(tmp_path / "other", "#!/bin/sh\necho 'hello there'\nsleep 30\n")
    with pytest.raises(PluginError) as exc:
        open_store(plugin).stat("a.bin")
    text = one_line(exc)
    assert "broke the protocol during the handshake: sent a line that is not JSON" in text
    assert "is it a cavorite-py store plugin?" in text


def test_wrong_protocol_version(make_plugin: MakePlugin, open_store: OpenStore) -> None:
    plugin = make_plugin('HELLO["protocol"] = 2\n')
    with pytest.raises(PluginError) as exc:
        open_store(plugin).stat("a.bin")
    text = one_line(exc)
    assert str(plugin) in text
    assert "speaks protocol version 2" in text
    assert "version 1" in text


def test_hang_times_out_quickly_and_stops_the_plugin(
    tmp_path: Path, make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    pidfile = tmp_path / "pid"
    plugin = make_plugin(
        f'if op == "get":\n    open({str(pidfile)!r}, "w").write(f"{{os.getpid()}}\\n")\n'
        "    time.sleep(60)\n"
    )
    store = open_store(plugin, plugin_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(PluginError) as exc:
        store.get("a.bin", io.BytesIO())
    assert time.monotonic() - start < 5
    text = one_line(exc)
    assert f"plugin {plugin} did not answer get 'a.bin' within 0.5 s" in text
    assert "plugin_timeout" in text
    assert reaped(int(wait_for_file(pidfile)))


def test_hang_in_shell_plugin_stops_what_it_started(tmp_path: Path, open_store: OpenStore) -> None:
    """The plugin's own children (here a ``sleep``) go too: the whole process group is stopped."""
    pidfile = tmp_path / "pid"
    plugin = write_executable(
        tmp_path / "hang.sh",
        "#!/bin/sh\nread -r line\n"
        'echo \'{"id":1,"ok":true,"protocol":1,"name":"hang"}\'\n'
        f"read -r line\nsleep 60 &\necho $! > {pidfile}\nwait\n",
    )
    store = open_store(plugin, plugin_timeout=0.5)
    with pytest.raises(PluginError, match="did not answer stat"):
        store.stat("x")
    sleeper = int(wait_for_file(pidfile))
    deadline = time.monotonic() + 5
    while not _gone(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(sleeper)


def test_handshake_timeout(make_plugin: MakePlugin, open_store: OpenStore) -> None:
    plugin = make_plugin('if op == "hello":\n    time.sleep(60)\n')
    start = time.monotonic()
    with pytest.raises(PluginError, match=r"did not answer the handshake within 0\.3 s"):
        open_store(plugin, plugin_handshake_timeout=0.3).stat("a.bin")
    assert time.monotonic() - start < 5


def test_later_requests_fail_fast_after_a_failure(
    make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    plugin = make_plugin('if op == "stat":\n    os._exit(5)\n')
    store = open_store(plugin)
    with pytest.raises(PluginError) as first:
        store.stat("a")
    pid = store_pid(store)
    start = time.monotonic()
    with pytest.raises(PluginError) as second:
        store.delete("b")
    assert time.monotonic() - start < 1
    assert str(second.value) == str(first.value)
    assert store_pid(store) == pid  # no second process was started


def test_get_answered_without_a_file(make_plugin: MakePlugin, open_store: OpenStore) -> None:
    with pytest.raises(PluginError, match="answered get 'a' with success but wrote no file"):
        open_store(make_plugin()).get("a", io.BytesIO())


def test_progress_callback_failure_stops_plugin(
    tmp_path: Path, make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    """An exception in the middle of an answer leaves the conversation out of step: stop."""
    plugin = make_plugin('if op == "put":\n    send({"id": rid, "progress": 1})\n')
    store = open_store(plugin)
    source = tmp_path / "src"
    source.write_bytes(b"xy")

    def explode(size: int) -> None:
        raise RuntimeError("engine cancelled")

    with pytest.raises(RuntimeError):
        store.put("k", source, ObjectInfo(2), progress=explode)
    with pytest.raises(PluginError, match="was stopped: RuntimeError during put 'k'"):
        store.stat("k")


# --- plugins that cannot be run -----------------------------------------------------------


def test_missing_file(tmp_path: Path, open_store: OpenStore) -> None:
    with pytest.raises(ConfigError) as exc:
        open_store(tmp_path / "nowhere" / "plugin")
    text = one_line(exc)
    assert str(tmp_path / "nowhere" / "plugin") in text
    assert "does not exist; set plugin_address in .cavorite/config" in text


def test_not_executable(tmp_path: Path, open_store: OpenStore) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError) as exc:
        open_store(plugin)
    assert f"{plugin} is not executable; make it executable with: chmod +x {plugin}" in one_line(
        exc
    )


def test_directory(tmp_path: Path, open_store: OpenStore) -> None:
    with pytest.raises(ConfigError, match="is not a file"):
        open_store(tmp_path)


def test_no_plugin_address(tmp_path: Path, open_store: OpenStore) -> None:
    from cavorite_py.stores.base import StoreSettings
    from cavorite_py.stores.plugin import PluginStore

    with pytest.raises(ConfigError, match="needs the option plugin_address"):
        PluginStore(StoreSettings("x", {}, tmp_path))


def test_no_shebang(tmp_path: Path, open_store: OpenStore) -> None:
    plugin = tmp_path / "plugin.bin"
    plugin.write_bytes(b"\x7fELF garbage")
    plugin.chmod(0o755)
    with pytest.raises(ConfigError, match=f"cannot run plugin {plugin}: Exec format error"):
        open_store(plugin).stat("a")


def test_missing_interpreter(tmp_path: Path, open_store: OpenStore) -> None:
    plugin = write_executable(tmp_path / "plugin", "#!/no/such/python\n")
    with pytest.raises(ConfigError, match="its interpreter was not found"):
        open_store(plugin).stat("a")


def test_bare_name_is_looked_up_on_path(
    tmp_path: Path, make_plugin: MakePlugin, open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = make_plugin(name="my-store-plugin")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    store = open_store(Path("my-store-plugin"), allowed=plugin)
    assert store.executable == plugin
    with pytest.raises(ConfigError, match="no such program on PATH"):
        open_store(Path("no-such-store-plugin"), allowed=plugin)


def test_relative_path_is_taken_from_the_repository_root(
    tmp_path: Path, make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    plugin = make_plugin(name="tool.py")
    assert open_store("./tool.py", allowed=plugin).executable == plugin


@pytest.mark.parametrize("value", ["soon", 0, -1, True, float("inf"), float("nan"), None])
def test_bad_timeout(make_plugin: MakePlugin, open_store: OpenStore, value: object) -> None:
    with pytest.raises(ConfigError, match="'plugin_timeout' must be a positive number of seconds"):
        open_store(make_plugin(), plugin_timeout=value)


@pytest.mark.parametrize("value", [5, ["dir"], "no-such-dir"])
def test_bad_tmpdir(make_plugin: MakePlugin, open_store: OpenStore, value: object) -> None:
    with pytest.raises(ConfigError, match="plugin_tmpdir"):
        open_store(make_plugin(), plugin_tmpdir=value)


def store_pid(store: object) -> int:
    pid = getattr(store, "pid", None)
    assert isinstance(pid, int)
    return pid


def _gone(pid: int) -> bool:
    from .conftest import gone

    return gone(pid)


@pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid")
def test_a_process_escaping_the_group_with_the_pipes_does_not_hang_us(
    tmp_path: Path, open_store: OpenStore
) -> None:
    pidfile = tmp_path / "pid"
    plugin = write_executable(
        tmp_path / "escape.sh",
        "#!/bin/sh\nread -r line\n"
        'echo \'{"id":1,"ok":true,"protocol":1,"name":"escape"}\'\n'
        f"read -r line\nsetsid sh -c 'echo $$ > {pidfile}; exec sleep 30' &\nsleep 60\n",
    )
    store = open_store(plugin, plugin_timeout=0.5)
    start = time.monotonic()
    try:
        with pytest.raises(PluginError, match="did not answer stat"):
            store.stat("x")
        assert time.monotonic() - start < 6
    finally:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            os.kill(int(wait_for_file(pidfile)), signal.SIGKILL)


def test_a_file_name_that_cannot_travel_as_utf8(
    tmp_path: Path, make_plugin: MakePlugin, open_store: OpenStore
) -> None:
    store = open_store(make_plugin())
    with pytest.raises(StoreError, match="cannot send put 'k' to plugin") as exc:
        store.put("k", tmp_path / "bad-\udcff.bin", ObjectInfo(1))
    assert not isinstance(exc.value, PluginError)
    assert store.stat("k") is None  # nothing was sent; the plugin still works
