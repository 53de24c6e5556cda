"""``ettui.cli.run``: the console script's exit skips the interpreter's teardown, never output or a live thread."""

from __future__ import annotations

import subprocess
import sys


def ettui(*args: str, code: str = "") -> subprocess.CompletedProcess[bytes]:
    script = f"import sys\nfrom ettui import cli\n{code}\nsys.argv = ['ettui', *{list(args)!r}]\ncli.run()\n"
    return subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)


def test_output_and_exit_code_survive_the_quick_exit() -> None:
    done = ettui("--version")
    assert done.returncode == 0 and done.stdout.startswith(b"ettui ")
    refused = ettui("fetch")
    assert refused.returncode == 2 and b"error:" in refused.stderr and refused.stdout == b""


def test_exit_handlers_run_and_a_large_output_to_a_pipe_is_written_whole() -> None:
    # An exit handler writes 200,000 lines into the block-buffered pipe: all of them, the tail too, reach the reader.
    code = "import atexit\natexit.register(lambda: print('\\n'.join(map(str, range(200000)))))"
    done = ettui("--version", code=code)
    assert done.returncode == 0
    assert done.stdout.splitlines()[1:] == [str(i).encode() for i in range(200000)]


def test_a_live_thread_gets_the_usual_exit() -> None:
    code = (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True))).start()"
    )
    done = ettui("--version", code=code)
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == b"thread done"
