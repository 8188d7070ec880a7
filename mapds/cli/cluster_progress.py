"""The progress bar on a ``dask.distributed`` cluster (imported only when a client is active)."""

from __future__ import annotations

import threading
import time
from typing import TextIO

from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["ClusterProgressBar", "TaskCounter"]


class TaskCounter(SchedulerPlugin):
    """Scheduler plugin counting tasks that became runnable and tasks that finished.

    distributed's own progress bars follow given futures; mapds' functions compute their graphs
    themselves, so the bar follows every task the scheduler sees instead.
    """

    name = "mapds-task-counter"

    def __init__(self):
        self.submitted = 0
        self.finished = 0

    def transition(self, key, start, finish, *args, **kwargs):
        if start == "released" and finish != "forgotten":
            self.submitted += 1
        elif finish in ("memory", "erred") and start == "processing":
            self.finished += 1


def _counts(dask_scheduler) -> tuple[int, int]:
    counter = dask_scheduler.plugins[TaskCounter.name]
    return counter.submitted, counter.finished


class ClusterProgressBar:
    """Draws ``[####    ]  40% 120/300 tasks 12.3 s`` from the scheduler's counts twice a second."""

    width = 40

    def __init__(self, client, stream: TextIO, interval: float = 0.5):
        self.client, self.stream, self.interval = client, stream, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.client.register_plugin(TaskCounter(), name=TaskCounter.name)
        self._base = self.client.run_on_scheduler(_counts)
        self._start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._draw(final=True)
        # Left registered, the next bar's registration would warn that it replaces this one.
        try:
            self.client.unregister_scheduler_plugin(TaskCounter.name)
        except Exception:  # a bar must never break the command it reports on
            pass

    def _run(self):
        while not self._stop.wait(self.interval):
            self._draw()

    def _draw(self, final: bool = False):
        try:
            submitted, finished = self.client.run_on_scheduler(_counts)
        except Exception:
            return
        total, done = submitted - self._base[0], finished - self._base[1]
        fraction = done / total if total else 1.0
        bar = "#" * int(self.width * fraction)
        elapsed = time.perf_counter() - self._start
        line = f"\r[{bar:<{self.width}}] {100 * fraction:3.0f}% {done}/{total} tasks {elapsed:.1f} s"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()
