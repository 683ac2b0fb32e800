"""The kernel a run executes in, started before the run needs it.

Most of a short run's cost is start-up: the kernel process (about 0.6 s until it
answers) and the libraries its notebook imports (pandas, scikit-learn, altair: one
to two seconds), which papermill would only begin once the workbench has taken the
job's lock, recorded the run and imported papermill itself. :class:`EarlyKernel`
starts the kernel as soon as a run is known to execute, and has it import the
notebook's heavy libraries at once, so that start-up overlaps the workbench's own
work on the other core. Each run still gets a fresh kernel of its own, which ends
with the run: nothing but imports happens before the notebook's first cell.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

__all__ = ["PRELOADED", "EarlyKernel", "kernel_manager_class", "preload_code", "preloads"]

#: Packages a kernel may import before the notebook's first cell: their import has no
#: effect a notebook could see, except the time it takes.
PRELOADED = frozenset(
    {"numpy", "pandas", "pyarrow", "scipy", "sklearn", "altair", "duckdb", "ibis", "workbench"}
)
# How long the preloading client waits for the kernel to answer (papermill's own wait).
_READY_SECONDS = 60.0


def kernel_manager_class() -> type:
    """The kernel manager for runs: it talks to the kernel over Unix sockets where it can.

    Jupyter's default is TCP on loopback, unencrypted: any local user could reach a kernel
    that executes code with the scheduler's rights, and ipykernel warns about it on every
    run. Unix sockets sit in Jupyter's runtime folder, which only its owner may enter.
    """
    from jupyter_client.manager import AsyncKernelManager

    if os.name != "posix":
        return AsyncKernelManager

    class UnixSocketKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return UnixSocketKernelManager


def preloads(notebook: dict[str, Any]) -> list[str]:
    """The import statements at the top level of a notebook's code cells, in order, that
    import from a package in :data:`PRELOADED` (``from workbench.recommend import x``
    too: the workbench's packages load a module when a name of it is asked for)."""
    statements: list[str] = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse(source if isinstance(source, str) else "".join(source))
        except SyntaxError:
            continue  # IPython magics: the cell runs as written; nothing to preload
        for node in tree.body:
            if isinstance(node, ast.Import):
                roots = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                if any(alias.name == "*" for alias in node.names):
                    continue  # not allowed inside the function the preload runs in
                roots = [node.module]
            else:
                continue
            if all(root.split(".")[0] in PRELOADED for root in roots):
                statement = ast.unparse(node)
                if statement not in statements:
                    statements.append(statement)
    return statements


def preload_code(statements: list[str]) -> str:
    """The code a kernel runs before the notebook's first cell: ``statements`` inside a
    function, so that no name they bind reaches the notebook's namespace.

    Each on its own: one that fails leaves the others loaded, and the notebook's own
    import shows the error where it belongs.
    """
    body = "".join(
        f"    try:\n        {statement}\n    except Exception:\n        pass\n"
        for statement in statements
    )
    return f"def _workbench_preload():\n{body}_workbench_preload()\ndel _workbench_preload\n"


class EarlyKernel:
    """A started kernel for one run, importing its notebook's heavy libraries meanwhile.

    Pass :attr:`manager` to papermill (``km=``); call :meth:`shutdown` when the run ends.
    """

    def __init__(self, notebook: Path) -> None:
        from jupyter_core.utils import run_sync

        document = json.loads(Path(notebook).read_text(encoding="utf-8"))
        kernelspec = document.get("metadata", {}).get("kernelspec", {})
        self.manager = kernel_manager_class()(kernel_name=kernelspec.get("name") or "python3")
        # papermill would start the kernel in this process's folder too.
        run_sync(self.manager.start_kernel)(cwd=os.getcwd())
        self.statements = preloads(document)
        self._thread = threading.Thread(target=self._preload, name="preload", daemon=True)
        self._thread.start()

    def _preload(self) -> None:
        """Run the imports in the kernel, silently (no execution count, no history), inside
        a function: the modules load, and no name appears in the notebook's namespace.

        What the imports print (a library's warning) goes to this process's stderr: the
        notebook's own import cell then finds the module loaded and prints nothing.
        """
        if not self.statements:
            return
        from jupyter_client import BlockingKernelClient

        client = BlockingKernelClient()
        client.load_connection_info(self.manager.get_connection_info())
        client.start_channels()
        try:
            client.wait_for_ready(timeout=_READY_SECONDS)
            sent = client.execute(preload_code(self.statements), silent=True, store_history=False)
            while True:
                message = client.get_iopub_msg(timeout=_READY_SECONDS)
                if message["parent_header"].get("msg_id") != sent:
                    continue
                if message["msg_type"] == "stream":
                    sys.stderr.write(message["content"]["text"])
                elif (
                    message["msg_type"] == "status"
                    and message["content"]["execution_state"] == "idle"
                ):
                    break
        except Exception:
            pass  # a kernel that does not come up is papermill's to report, in the run
        finally:
            client.stop_channels()

    def shutdown(self) -> None:
        """End the kernel (gracefully: it may close a store), then the preloading client."""
        from jupyter_core.utils import run_sync

        try:
            if run_sync(self.manager.is_alive)():
                run_sync(self.manager.shutdown_kernel)(now=False)
        except RuntimeError:
            pass  # already gone (it died, or papermill saw it die)
        finally:
            run_sync(self.manager.cleanup_resources)()
        # Done by now, unless the kernel never answered: the thread is a daemon then, and
        # its wait must not hold up the run's end.
        self._thread.join(timeout=1.0)
