"""Who holds a claim: a holder of this host whose process is gone can be taken over at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from ettui.jobs.base import holder_gone, holder_id, whoami


def test_a_dead_process_of_this_host_is_gone() -> None:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                           check=True)
    dead = int(child.stdout)  # reaped by run(): no such process any more (barring pid reuse in between)
    assert holder_gone(f"{whoami()} (pid {dead})")


def test_a_live_one_another_host_or_a_strange_text_is_not() -> None:
    assert not holder_gone(holder_id())  # this very process
    assert not holder_gone(f"root@{socket.gethostname()} (pid 1)")  # alive (and perhaps not ours: EPERM)
    assert not holder_gone(f"carol@not-{socket.gethostname()} (pid {2**22 + 7})"), "another host: never judged here"
    for odd in ("", "carol", f"x@{socket.gethostname()} (pid )", f"x@{socket.gethostname()} (pid -3)",
                f"x@{socket.gethostname()} pid {os.getpid()}"):
        assert not holder_gone(odd), odd
