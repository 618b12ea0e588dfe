"""Run a command under a timeout, killing everything it started: nothing a test launches can hang or outlive it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
# Added to every launched process's environment: offline, no tokenizer thread pools next to the test's, and
# DeepSpeed's CPU communication op (compiled at first use) kept across runs.
BASE_ENV = {
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TORCH_EXTENSIONS_DIR": os.environ.get(
        "TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "curriculum_torch_extensions")
    ),
}
TAIL_CHARS = 4000
# Set to a fresh token in each launched command's environment, which its descendants inherit: torchrun starts its
# workers in sessions of their own, out of reach of the command's process group, but not of this mark.
MARK = "CURRICULUM_TESTS_LAUNCH"


def tail(text: str, chars: int = TAIL_CHARS) -> str:
    return text if len(text) <= chars else "..." + text[-chars:]


def _marked(token: str) -> list[int]:
    """The live processes whose environment holds `MARK=token` (read from /proc; none where there is no /proc)."""
    needle, pids = f"{MARK}={token}".encode(), []
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        try:
            if entry.name.isdigit() and needle in Path(entry.path, "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:  # gone, or not ours
            pass
    return pids


def kill_everything(pgid: int, token: str) -> None:
    """SIGKILL the process group `pgid` and every process marked with `token`, until none is left."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already
    for _ in range(100):  # a marked process may still be starting others: sweep until none is left
        pids = _marked(token)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.05)


def run_process(
    cmd: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run `cmd` (in `cwd`, default the repository root) with `os.environ`, `BASE_ENV` and `env` in its environment.

    The command leads a new session. Once it exits, on timeout and on any interruption, its process group and every
    process that inherited its `MARK` (torchrun's workers, DataLoader workers, ...) are killed with SIGKILL. On
    timeout the test fails with the tail of the output. Output goes through files, not pipes, so a stray descendant
    that keeps a pipe open cannot block the reader.
    """
    cmd = [str(c) for c in cmd]
    token = uuid.uuid4().hex
    full_env = {**os.environ, **BASE_ENV, **(env or {}), MARK: token}
    files = [tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") for _ in range(3)]
    with files[0] as stdin, files[1] as out, files[2] as err:
        stdin.write(input or "")
        stdin.seek(0)
        proc = subprocess.Popen(
            cmd, cwd=cwd or ROOT, env=full_env, stdin=stdin, stdout=out, stderr=err, text=True, start_new_session=True
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_everything(proc.pid, token)  # also on success: no descendant outlives the command
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if timed_out:
        pytest.fail(
            f"timed out after {timeout:g} s (killed, with all it started): {' '.join(cmd)}\n"
            f"--- stdout (tail)\n{tail(stdout)}\n--- stderr (tail)\n{tail(stderr)}",
            pytrace=False,
        )
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def check_ok(result: subprocess.CompletedProcess) -> str:
    """The command's stdout; fails the test with the tail of its output if it did not exit 0."""
    if result.returncode != 0:
        pytest.fail(
            f"exit {result.returncode}: {' '.join(result.args)}\n"
            f"--- stdout (tail)\n{tail(result.stdout)}\n--- stderr (tail)\n{tail(result.stderr)}",
            pytrace=False,
        )
    return result.stdout


def free_port() -> int:
    """A TCP port free on this machine now, for a `torchrun --master_port`."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

