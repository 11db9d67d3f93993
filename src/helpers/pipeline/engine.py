"""A papermill engine that saves the executed notebook when it matters, not at every cell.

papermill's :class:`~papermill.engines.NotebookExecutionManager` writes the whole executed notebook
(``nbformat.writes``: JSON, schema validation, every PNG output base64-encoded again) at every cell start and
every cell end: about 100 writes for notebook 04, 1.5 s of CPU in the parent process alone, more for the
notebooks whose outputs hold figures. :class:`SavingEngine` (registered as ``"nk-telecom"`` through papermill's
documented extension point, ``papermill_engines.register``; select it with ``engine_name=ENGINE_NAME``)
keeps papermill's bookkeeping (cell metadata, timings, statuses, the error banner papermill adds itself) and
writes the notebook

* at the start (the staged copy exists as soon as the first cell runs);
* at a cell boundary only when ``save_every`` seconds have passed since the last write (a copy on disk never
  more than a few seconds behind, for someone looking at it while a long step runs);
* on a failing cell, at once (its traceback and status ``failed`` are in the copy);
* at the end only when execution was cut short (Ctrl-C, a dead kernel, any exception out of the engine):
  after a normal end papermill writes the final notebook itself (with its red error banner when a cell
  failed), so a second write would be the same bytes again.

Its kernels start without the debugger (:mod:`helpers.pipeline.kernel`, via :class:`PipelineKernelManager`).
The running cell is known in-process (:attr:`SavingManager.running`): :mod:`helpers.pipeline.run`'s progress
lines read it there instead of from the copy on disk.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

ENGINE_NAME = "nk-telecom"
#: Seconds between two writes of the executed notebook at cell boundaries while it runs.
SAVE_EVERY = 5.0


class LiveState:
    """What the engine shares with its caller while a notebook runs: the manager, once it exists."""

    def __init__(self) -> None:
        self.manager: SavingManager | None = None

    def running(self) -> tuple[int, Any] | None:
        """``(index in the executed notebook, cell)`` of the running cell, or None."""
        return None if self.manager is None else self.manager.running


class SavingManager(NotebookExecutionManager):
    """papermill's execution manager with the writes throttled (see the module docstring)."""

    def __init__(self, nb: Any, *args: Any, save_every: float = SAVE_EVERY, **kwargs: Any) -> None:
        super().__init__(nb, *args, **kwargs)
        self.save_every = save_every
        self.saves = 0
        self.running: tuple[int, Any] | None = None
        self._force = False
        self._last_write = float("-inf")
        self._lock = threading.Lock()

    def save(self, **kwargs: Any) -> None:
        """Write the notebook when forced (start, failure, cut-short end) or ``save_every`` s after the last."""
        if not self._force and time.monotonic() - self._last_write < self.save_every:
            return
        with self._lock:
            super().save(**kwargs)
            if self.output_path:
                self.saves += 1
            self._last_write = time.monotonic()

    def _forced(self, method: Any, *args: Any, **kwargs: Any) -> None:
        self._force = True
        try:
            method(*args, **kwargs)
        finally:
            self._force = False

    def notebook_start(self, **kwargs: Any) -> None:
        """Clear the metadata and write the notebook once (papermill's own start)."""
        self._forced(super().notebook_start, **kwargs)

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        """Mark the cell running (written only if the last write is ``save_every`` s old)."""
        super().cell_start(cell, cell_index, **kwargs)
        self.running = (cell_index if cell_index is not None else -1, cell)

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        """Finish the cell's metadata; a failed cell is written at once."""
        failed = cell.metadata.get("papermill", {}).get("status") == self.FAILED
        if failed:
            self._forced(super().cell_complete, cell, cell_index, **kwargs)
        else:
            super().cell_complete(cell, cell_index, **kwargs)
            self.running = None

    def notebook_complete(self, *, write: bool = True, **kwargs: Any) -> None:
        """papermill's end-of-run metadata; written only when ``write`` (execution was cut short)."""
        if write:
            self._forced(super().notebook_complete, **kwargs)
        else:
            self._force, self.save_every = False, float("inf")
            super().notebook_complete(**kwargs)


class PipelineKernelManager(AsyncKernelManager):
    """The kernel spec's command with :mod:`helpers.pipeline.kernel` in place of ``ipykernel_launcher``."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The spec's command line (interpreter, its options, connection file), launcher module replaced."""
        cmd = super().format_kernel_cmd(extra_arguments)
        for i in range(len(cmd) - 1):
            if cmd[i] == "-m" and cmd[i + 1] == "ipykernel_launcher":
                cmd[i + 1] = "helpers.pipeline.kernel"
                break
        return cmd


class SavingEngine(NBClientEngine):
    """papermill's nbclient engine with :class:`SavingManager` (``engine_name=ENGINE_NAME``)."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        save_every: float = SAVE_EVERY,
        live: LiveState | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``nb`` as papermill's engines do, with the throttled manager; ``live`` receives the manager."""
        nb_man = SavingManager(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
            save_every=save_every,
        )
        if live is not None:
            live.manager = nb_man
        kwargs.setdefault("kernel_manager_class", PipelineKernelManager)
        nb_man.notebook_start()
        finished = False
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finished = True
        finally:
            nb_man.cleanup_pbar()
            # after a normal end papermill's execute_notebook writes the final copy (with the error banner
            # when a cell failed); cut short, this is the last chance to write what ran
            nb_man.notebook_complete(write=not finished)
        return nb_man.nb


papermill_engines.register(ENGINE_NAME, SavingEngine)
