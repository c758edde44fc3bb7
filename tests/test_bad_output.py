"""Bad outputs of every command that writes a file (``mmgym-import``'s five importers,
``mmgym-record``, ``mmgym-calibrate``): an output that is an input, an existing file without
``--force``, a directory, a path under a regular file, an unwritable directory and a write
that fails midway. Each is a one-line message on stderr naming the path (and the input or
the flag), exit status 2, no traceback, and nothing that existed before is lost: the inputs'
bytes and an existing output's bytes are unchanged.

The inputs are small cuts of the real samples (Binance, LOBSTER) and the hand-written files
of the other importers' tests, always copied into the test's folder first: a wrong refusal
must never be able to damage the shared samples.
"""

from __future__ import annotations

import gzip
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from reference import LOBSTER_MESSAGE, SAMPLE
from test_calibration import synthetic
from test_data_bybit import good as bybit_lines
from test_data_bybit import write as write_bybit
from test_data_tardis import files as tardis_files
from test_recorder import book, header, trade, write_lines

from mmgym.data import importers, recorder
from mmgym.data.lobster import orderbook_path
from mmgym.data.store import read_events, write_events
from mmgym.kit import calibrate

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = os.geteuid() == 0
"""chmod does not stop root: the read-only-directory probes are skipped, the failing write
is made by a file size limit instead (which stops root too)."""
SOURCES = list(importers.IMPORTERS)


def head_lines(source: Path, target: Path, n: int) -> Path:
    """The first ``n`` lines of ``source`` (gzip or plain) written to ``target`` likewise."""
    gz = source.read_bytes()[:2] == b"\x1f\x8b"
    text = (gzip.open(source) if gz else open(source, "rb")).readlines()[:n]
    data = b"".join(text)
    target.write_bytes(gzip.compress(data) if gz else data)
    return target


def inputs_of(source: str, folder: Path) -> tuple[list[Path], list[Path]]:
    """An importer's input files in ``folder``: those given on the command line and all that
    it reads (LOBSTER's orderbook file is found beside the message file)."""
    folder.mkdir(exist_ok=True)
    if source == "binance":
        if not SAMPLE.is_file():
            pytest.skip(f"{SAMPLE} not present")
        files = [head_lines(SAMPLE, folder / SAMPLE.name, 3000)]
    elif source == "lobster":
        if not LOBSTER_MESSAGE.is_file():
            pytest.skip(f"{LOBSTER_MESSAGE} not present")
        message = head_lines(LOBSTER_MESSAGE, folder / LOBSTER_MESSAGE.name, 1000)
        head_lines(orderbook_path(LOBSTER_MESSAGE), orderbook_path(message), 1000)
        return [message], [message, orderbook_path(message)]
    elif source == "bybit":
        files = [write_bybit(folder, bybit_lines(), gz=True)]
    elif source == "ccxt":
        files = [write_lines(folder / "rec.jsonl.gz", [header(), book(1, 2, 99.0, 100.0),
                                                       trade(2, 3, 1), book(5, 5, 99.5, 100.0)])]
    else:
        files = list(tardis_files(folder, gz=(True, True)))
    return files, files


def snapshot(paths: list[Path]) -> dict[Path, bytes]:
    """The bytes of each file, to check that nothing was lost."""
    return {p: p.read_bytes() for p in paths}


def run_import(source: str, given: list[Path], out: Path, *extra: str) -> int:
    """``mmgym-import source given... -o out extra...``, in this process."""
    return importers.main([source, *map(str, given), "-o", str(out), *extra])


def one_line_error(capsys: pytest.CaptureFixture, command: str, *names: object) -> str:
    """The captured stderr: one line, prefixed with ``command``, naming each of ``names``."""
    err = capsys.readouterr().err
    assert err.startswith(f"{command}: ") and err.count("\n") == 1, err
    for name in names:
        assert str(name) in err, (name, err)
    return err


# ----------------------------------------------------------------------------- mmgym-import


@pytest.mark.parametrize("source", SOURCES)
def test_import_never_writes_over_an_input(tmp_path: Path, source: str,
                                           capsys: pytest.CaptureFixture) -> None:
    given, read = inputs_of(source, tmp_path / "in")
    before = snapshot(read)
    other = tmp_path / "other"
    other.mkdir()
    for target in read:  # the same path, a symbolic link, a hard link, a detour through ..
        link, hard = other / f"link_{target.name}", other / f"hard_{target.name}"
        link.symlink_to(target)
        os.link(target, hard)
        for out in (target, link, hard, target.parent / ".." / "in" / target.name):
            assert run_import(source, given, out, "--force") == 2
            one_line_error(capsys, "mmgym-import", out, "input")
    assert snapshot(read) == before


@pytest.mark.parametrize("source", SOURCES)
def test_import_replaces_an_existing_output_only_with_force(
        tmp_path: Path, source: str, capsys: pytest.CaptureFixture) -> None:
    given, read = inputs_of(source, tmp_path / "in")
    before = snapshot(read)
    out = tmp_path / "events.parquet"
    out.write_bytes(b"an earlier result")
    assert run_import(source, given, out) == 2
    one_line_error(capsys, "mmgym-import", out, "--force")
    assert out.read_bytes() == b"an earlier result"
    assert run_import(source, given, out, "--force") == 0
    assert len(read_events(out)[0]) > 0
    assert snapshot(read) == before


@pytest.mark.parametrize("source", SOURCES)
def test_import_output_problems_are_one_line(tmp_path: Path, source: str,
                                             capsys: pytest.CaptureFixture) -> None:
    given, read = inputs_of(source, tmp_path / "in")
    before = snapshot(read)
    folder = tmp_path / "a_directory"
    folder.mkdir()
    assert run_import(source, given, folder, "--force") == 2
    one_line_error(capsys, "mmgym-import", folder, "directory")
    assert folder.is_dir() and not any(folder.iterdir())
    under_file = given[0] / "x.parquet"  # its parent is a regular file
    assert run_import(source, given, under_file) == 2
    one_line_error(capsys, "mmgym-import", under_file, "not a directory")
    assert snapshot(read) == before


@pytest.mark.parametrize("source", SOURCES)
def test_import_creates_missing_parent_directories(tmp_path: Path, source: str) -> None:
    given, _ = inputs_of(source, tmp_path / "in")
    out = tmp_path / "new" / "deeper" / "events.parquet"
    assert run_import(source, given, out) == 0
    assert len(read_events(out)[0]) > 0
    assert [p.name for p in out.parent.iterdir()] == ["events.parquet"]  # no temporary left


@pytest.mark.skipif(ROOT, reason="chmod does not stop root")
@pytest.mark.parametrize("source", SOURCES)
def test_import_into_a_read_only_directory(tmp_path: Path, source: str,
                                           capsys: pytest.CaptureFixture) -> None:
    given, read = inputs_of(source, tmp_path / "in")
    before = snapshot(read)
    folder = tmp_path / "read_only"
    folder.mkdir()
    out = folder / "events.parquet"
    out.write_bytes(b"an earlier result")
    folder.chmod(0o555)
    try:
        for target in (out, folder / "sub" / "events.parquet"):
            assert run_import(source, given, target, "--force") == 2
            one_line_error(capsys, "mmgym-import", target, "permission")
    finally:
        folder.chmod(0o755)
    assert out.read_bytes() == b"an earlier result" and sorted(folder.iterdir()) == [out]
    assert snapshot(read) == before


def limited(max_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` limiting the size of any file the child writes (EFBIG beyond it;
    Python ignores SIGXFSZ): a write that fails midway, for root too."""
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def command(module: str, *args: object, max_bytes: int | None = None
            ) -> subprocess.CompletedProcess:
    """``python -m module args...`` with this worktree's code; ``max_bytes``: the file size
    limit (:func:`limited`)."""
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=120,
                          preexec_fn=None if max_bytes is None else limited(max_bytes))


def test_the_command_refuses_to_write_over_its_input(tmp_path: Path) -> None:
    """The issue's case, through the real command: ``-o`` is the recording itself."""
    given, read = inputs_of("binance", tmp_path)
    before = snapshot(read)
    done = command("mmgym.data.importers", "binance", given[0], "-o", given[0], "--force")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr == (f"mmgym-import: {given[0]}: is the input {given[0]}; refusing to "
                           "overwrite it (choose another output path)\n")
    assert snapshot(read) == before


@pytest.mark.parametrize("source", SOURCES)
def test_a_failing_import_write_leaves_the_old_output(tmp_path: Path, source: str) -> None:
    given, read = inputs_of(source, tmp_path / "in")
    before = snapshot(read)
    out = tmp_path / "out" / "events.parquet"
    out.parent.mkdir()
    out.write_bytes(b"an earlier result")
    done = command("mmgym.data.importers", source, *given, "-o", out, "--force",
                   max_bytes=1024)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr == f"mmgym-import: {out}: cannot write it: File too large\n"
    assert out.read_bytes() == b"an earlier result"
    assert sorted(out.parent.iterdir()) == [out]  # the temporary file is gone
    assert snapshot(read) == before


# ----------------------------------------------------------------------------- mmgym-record


def run_record(out: Path) -> int:
    """``mmgym-record`` into ``out``, towards a port nobody listens on: every probe here is
    refused before the exchange is asked anything."""
    return recorder.main(["--exchange", "bybit", "--symbol", "BTC/USDT:USDT", "--seconds", "1",
                          "--api-url", "http://127.0.0.1:9", "--no-progress", "-o", str(out)])


def test_record_refuses_an_existing_recording_a_directory_or_a_path_under_a_file(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    old = tmp_path / "btc.jsonl.gz"
    old.write_bytes(b"an earlier recording")
    assert run_record(old) == 2
    one_line_error(capsys, "mmgym-record", old, "never overwritten")
    assert old.read_bytes() == b"an earlier recording"
    assert run_record(tmp_path) == 2
    one_line_error(capsys, "mmgym-record", tmp_path, "directory")
    under_file = old / "new.jsonl.gz"
    assert run_record(under_file) == 2
    one_line_error(capsys, "mmgym-record", under_file, "not a directory")
    assert old.read_bytes() == b"an earlier recording"


@pytest.mark.skipif(ROOT, reason="chmod does not stop root")
def test_record_into_a_read_only_directory(tmp_path: Path, capsys: pytest.CaptureFixture
                                           ) -> None:
    tmp_path.chmod(0o555)
    try:
        assert run_record(tmp_path / "btc.jsonl.gz") == 2
    finally:
        tmp_path.chmod(0o755)
    one_line_error(capsys, "mmgym-record", tmp_path / "btc.jsonl.gz", "permission")
    assert not any(tmp_path.iterdir())


# ----------------------------------------------------------------------------- mmgym-calibrate


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """A small event file calibrate can read."""
    path = tmp_path / "data" / "synthetic.parquet"
    write_events(synthetic(0, seconds=600.0), path,
                 {"mmgym.tick_size": "0.1", "mmgym.lot_size": "0.001"})
    return path


def run_calibrate(events: Path, conf: Path, *extra: object) -> int:
    """``mmgym-calibrate events --name t -o conf extra...``, in this process."""
    return calibrate.main([str(events), "--name", "t", "-o", str(conf), *map(str, extra)])


def test_calibrate_never_writes_over_an_input(tmp_path: Path, events: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    as_config = conf / "calibrated_t.yaml"  # the event file where a config would go
    as_config.write_bytes(events.read_bytes())
    klines = conf / "replay_t.yaml"
    klines.write_bytes(b"the recording")
    before = snapshot([as_config, klines])
    assert run_calibrate(as_config, conf, "--force") == 2
    one_line_error(capsys, "mmgym-calibrate", as_config, "input")
    assert run_calibrate(events, conf, "--force", "--klines", klines) == 2
    one_line_error(capsys, "mmgym-calibrate", klines, "input")
    assert snapshot([as_config, klines]) == before


def test_calibrate_replaces_configs_only_with_force(tmp_path: Path, events: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    old = conf / "replay_t.yaml"
    old.write_text("an earlier config")
    assert run_calibrate(events, conf) == 2
    one_line_error(capsys, "mmgym-calibrate", old, "--force")
    assert old.read_text() == "an earlier config"
    assert not (conf / "calibrated_t.yaml").exists()  # both or neither


def test_calibrate_output_problems_are_one_line(tmp_path: Path, events: Path,
                                                capsys: pytest.CaptureFixture) -> None:
    before = snapshot([events])
    conf = tmp_path / "conf"
    (conf / "calibrated_t.yaml").mkdir(parents=True)
    assert run_calibrate(events, conf, "--force") == 2
    one_line_error(capsys, "mmgym-calibrate", conf / "calibrated_t.yaml", "directory")
    assert run_calibrate(events, events, "--force") == 2  # the directory is a file
    one_line_error(capsys, "mmgym-calibrate", events / "calibrated_t.yaml", "not a directory")
    assert snapshot([events]) == before


@pytest.mark.skipif(ROOT, reason="chmod does not stop root")
def test_calibrate_into_a_read_only_directory(tmp_path: Path, events: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    conf.chmod(0o555)
    try:
        assert run_calibrate(events, conf) == 2
    finally:
        conf.chmod(0o755)
    one_line_error(capsys, "mmgym-calibrate", conf / "calibrated_t.yaml", "permission")


def test_a_failing_calibrate_write_leaves_the_old_configs(tmp_path: Path, events: Path
                                                           ) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    old = {conf / f"{stem}_t.yaml": f"an earlier {stem} config\n"
           for stem in ("calibrated", "replay")}
    for path, text in old.items():
        path.write_text(text)
    done = command("mmgym.kit.calibrate", events, "--name", "t", "-o", conf, "--force",
                   max_bytes=256)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    path = conf / "calibrated_t.yaml"
    assert done.stderr == f"mmgym-calibrate: {path}: cannot write it: File too large\n"
    assert {p: p.read_text() for p in old} == old and sorted(conf.iterdir()) == sorted(old)


# ----------------------------------------------------------------------------- every command


def test_no_permission_is_named_before_anything_is_read(
        tmp_path: Path, events: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    """The permission check of every command, also as root (whom chmod does not stop): the
    system's answer is replaced by a refusal."""
    given, read = inputs_of("bybit", tmp_path / "in")
    before = snapshot([*read, events])
    out = tmp_path / "out"
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    assert run_import("bybit", given, out / "events.parquet") == 2
    one_line_error(capsys, "mmgym-import", out / "events.parquet", "no permission", tmp_path)
    assert run_record(out / "btc.jsonl.gz") == 2
    one_line_error(capsys, "mmgym-record", out / "btc.jsonl.gz", "no permission", tmp_path)
    assert run_calibrate(events, out) == 2
    one_line_error(capsys, "mmgym-calibrate", out / "calibrated_t.yaml", "no permission")
    assert not out.exists() and snapshot([*read, events]) == before
