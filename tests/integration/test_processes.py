"""The test helper `run_process`: on timeout and on exit, nothing the command started survives it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from processes import PYTHON, check_ok, run_process

pytestmark = pytest.mark.slow


def spawn_sleeper(pid_file: Path, then: str) -> list[str]:
    """A command that starts a grandchild sleeping 10 minutes in a session of its own (as torchrun starts its workers),
    writes its pid, prints "started", then runs `then`."""
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "print('started', flush=True)\n"
        f"{then}\n"
    )
    return [PYTHON, "-c", code]


def is_gone(pid: int, wait: float = 10.0) -> bool:
    """Whether `pid` has ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + wait
    while True:
        stat = Path(f"/proc/{pid}/stat")
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_timeout_kills_all_it_started_and_fails_with_the_output(tmp_path):
    pid_file = tmp_path / "pid"
    message = r"timed out after 5 s \(killed, with all it started\)[\s\S]*--- stdout \(tail\)\nstarted"
    with pytest.raises(pytest.fail.Exception, match=message):
        run_process(spawn_sleeper(pid_file, "time.sleep(600)"), 5)
    assert is_gone(int(pid_file.read_text()))


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_exit_ends_the_leftover_descendants(tmp_path):
    pid_file = tmp_path / "pid"
    result = run_process(spawn_sleeper(pid_file, "sys.exit(3)"), 60)
    assert result.returncode == 3 and result.stdout == "started\n"
    assert is_gone(int(pid_file.read_text()))
    with pytest.raises(pytest.fail.Exception, match=r"exit 3: [\s\S]*--- stdout \(tail\)\nstarted"):
        check_ok(result)
