"""Run a project script with the project's virtual environment.

The load, drill and benchmark scripts import the project's dependencies. Run with a
Python that lacks them, a script re-runs itself once with ``$CHATR_VENV`` or
``.venv`` (made by ``scripts/test`` or ``scripts/serve``), then puts the repository
root on ``sys.path`` so ``chatr_server`` and ``loadtest`` import from the checkout.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def use_project_python(script: str, *modules: str) -> Path:
    """Re-exec ``script`` with the project's venv when ``modules`` are missing; return ROOT."""
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError:
        flag = f"_CHATR_REEXEC_{Path(script).stem.upper()}"
        for venv in (os.environ.get("CHATR_VENV"), ROOT / ".venv"):
            python = Path(venv) / "bin" / "python" if venv else None
            if python is not None and python.exists() and not os.environ.get(flag):
                os.environ[flag] = "1"
                os.execv(str(python), [str(python), script, *sys.argv[1:]])
        sys.exit(
            f"{Path(script).name} needs {', '.join(modules)}: run scripts/test once"
            " (it makes .venv) or set CHATR_VENV"
        )
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return ROOT
