"""A "spawn" multiprocessing context whose workers never re-run the parent's ``__main__``.

The stdlib spawn start method sends each child the parent's main module (``init_main_from_path``
or ``init_main_from_name`` in ``multiprocessing.spawn.get_preparation_data``) and the child runs
it again as ``__mp_main__`` so that functions defined there can be unpickled. Engine workers only
run functions from ``trading_runtime``, so they need none of it, and re-running it breaks any
caller without an ``if __name__ == "__main__":`` guard (the re-run script starts workers of its
own while bootstrapping) or whose main is not a file at all (``python - < script``, a notebook).

``worker_context()`` is the stdlib spawn context with one difference: the preparation data sent
to its processes leaves those two keys out. Nothing global is patched and the caller's
``__main__`` is not touched, so other pools in the same process behave as before.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from multiprocessing import context, process, reduction, spawn, util
from typing import Any

__all__ = ["MAIN_MODULE_KEYS", "preparation_data", "worker_context"]

# What makes a spawned child import or run the parent's main module.
MAIN_MODULE_KEYS = ("init_main_from_path", "init_main_from_name")


def preparation_data(name: str) -> dict[str, Any]:
    """The stdlib's preparation data for a spawned child (sys.path, cwd, authkey...), minus the
    parent's main module."""
    data = spawn.get_preparation_data(name)
    for key in MAIN_MODULE_KEYS:
        data.pop(key, None)
    return data


if sys.platform != "win32":
    from multiprocessing import popen_spawn_posix

    class _NoMainPopen(popen_spawn_posix.Popen):
        """``popen_spawn_posix.Popen`` with ``preparation_data`` in place of the stdlib's; the
        rest of ``_launch`` is CPython 3.11-3.13's unchanged."""

        # File descriptors for the child, set by popen_spawn_posix.Popen (not in typeshed).
        _fds: list[Any]

        def _launch(self, process_obj: Any) -> None:
            from multiprocessing import resource_tracker

            tracker_fd = resource_tracker.getfd()
            self._fds.append(tracker_fd)
            prep_data = preparation_data(process_obj._name)
            fp = io.BytesIO()
            context.set_spawning_popen(self)
            try:
                reduction.dump(prep_data, fp)
                reduction.dump(process_obj, fp)
            finally:
                context.set_spawning_popen(None)

            parent_r = child_w = child_r = parent_w = None
            try:
                parent_r, child_w = os.pipe()
                child_r, parent_w = os.pipe()
                cmd = spawn.get_command_line(tracker_fd=tracker_fd, pipe_handle=child_r)
                self._fds.extend([child_r, child_w])
                executable = spawn.get_executable()
                self.pid = util.spawnv_passfds(executable, cmd, self._fds)  # type: ignore[arg-type]
                self.sentinel = parent_r
                with open(parent_w, "wb", closefd=False) as f:
                    f.write(fp.getbuffer())
            finally:
                fds_to_close = [fd for fd in (parent_r, parent_w) if fd is not None]
                close_fds = util.close_fds  # type: ignore[attr-defined]
                self.finalizer = util.Finalize(self, close_fds, fds_to_close)
                for fd in (child_r, child_w):
                    if fd is not None:
                        os.close(fd)

    class NoMainSpawnProcess(process.BaseProcess):
        _start_method = "spawn"

        @staticmethod
        def _Popen(process_obj: Any) -> Any:
            return _NoMainPopen(process_obj)

        @staticmethod
        def _after_fork() -> None:
            pass  # spawned: nothing inherited to reset

    class NoMainSpawnContext(context.SpawnContext):
        """The spawn start method, without the parent's main module in the children."""

        Process = NoMainSpawnProcess  # type: ignore[assignment]

    _WORKER_CONTEXT: multiprocessing.context.BaseContext = NoMainSpawnContext()

else:  # Windows spawns through another Popen; the runtime does not target it
    _WORKER_CONTEXT = multiprocessing.get_context("spawn")


def worker_context() -> multiprocessing.context.BaseContext:
    """The context engine worker pools start their processes with."""
    return _WORKER_CONTEXT
