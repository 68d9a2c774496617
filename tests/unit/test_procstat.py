"""The load tester's CPU figures come from /proc: check they count real work."""

from __future__ import annotations

import subprocess
import sys

from loadtest import procstat

# Busy until 0.3 s of CPU is spent (by CPU clock, not wall clock); /proc counts it in
# 10 ms ticks, so the check below asks for 0.2 s.
_BURN = "import time\nwhile time.process_time() < 0.3: pass\nprint('done', flush=True)\ninput()"


def test_tree_sample_counts_a_child_processes_cpu() -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys; subprocess.run([sys.executable, '-c', {_BURN!r}])",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "done"  # the grandchild burned its CPU
        sample = procstat.sample(parent.pid)
        assert len(sample.server_pids) == 2  # the process and its child
        assert sample.server_cpu_s >= 0.2
        assert sample.server_rss_bytes > 0
    finally:
        parent.communicate("\n", timeout=30)


def test_cpu_delta_counts_new_processes_and_flags_exited_ones() -> None:
    spent, exited = procstat.cpu_delta({1: 1.0, 2: 2.0}, {1: 1.5, 3: 0.25})
    assert spent == 1.5 - 1.0 + 0.25
    assert exited == 1
