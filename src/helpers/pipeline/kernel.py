"""The pipeline's kernel launcher: ``ipykernel_launcher`` without the debugger.

A kernel that papermill starts for a step is never attached to a debugger, yet ``ipykernel`` imports
``debugpy`` (and its pydevd schema) at start-up to offer one: ~0.2 s of CPU in every step's kernel, measured
with ``python -X importtime -m ipykernel_launcher``. Marking ``debugpy`` absent makes ``ipykernel`` start
exactly as it does where ``debugpy`` is not installed (its documented fallback: no debugger). JupyterLab keeps
the kernel spec's own launcher, debugger included. :class:`helpers.pipeline.engine.PipelineKernelManager`
starts this module in place of ``ipykernel_launcher``; everything else of the kernel spec is kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    # as ipykernel_launcher: the working directory off sys.path while ipykernel loads (the shell adds it back)
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    sys.modules.setdefault("debugpy", None)  # type: ignore[arg-type]

    from ipykernel import kernelapp

    kernelapp.launch_new_instance()
