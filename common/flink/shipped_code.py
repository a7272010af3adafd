"""Job functions that load their code from where it stays on a TaskManager, not from where Flink put it.

`headwater submit` ships the code and its dependencies with each job (common/flink/shipping.py). Flink
extracts them into a folder of that job and deletes the folder when the job ends. But a TaskManager
runs every job's Python in one embedded interpreter (thread mode), which keeps every module it
imported: after a stop-with-savepoint and a new submit, or beside a second job, the modules of the
first job still point at its deleted folder, and the next operator that reads a schema or imports a
module from there fails, and fails again at every restart.

So every Python function of a job is pickled as "import this class and give it this state", run by
`_revive`, which cloudpickle ships by value (it runs before any Headwater module is imported):
1. it copies the job's shipped folders to `<temp>/headwater-shipped/<archive name>` once (the names
   carry a digest of their content) and puts those copies first on the Python path: they are never
   deleted, so a module loaded from them never loses its files;
2. if the Headwater modules already loaded come from another copy of the code (a job of another
   version ran here before), it forgets them, so this job imports its own. Dependencies it cannot
   forget (a compiled extension loads once per process): they stay as first loaded, and a TaskManager
   must be restarted to change their versions (docs/operations.md);
3. it imports the class and restores the function's state.

Without shipped folders on the path (`headwater run`, a cluster that sees the checkout) step 3 alone runs.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tempfile
import threading

import cloudpickle

SHIPPED = ("code-", "dependencies-")  # the archive names of common/flink/shipping.py
OWN = ("common", "jobs")


class ShippedFunction:
    """Mixin for every Python function a job hands to Flink (its operators)."""

    def __reduce_ex__(self, protocol):
        state = cloudpickle.dumps(self.__dict__, protocol=protocol)
        return _revive, (type(self).__module__, type(self).__qualname__, state)


def _revive(module: str, qualname: str, state: bytes):
    _settle_shipped_code()
    found = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    function = found.__new__(found)
    function.__dict__.update(cloudpickle.loads(state))
    return function


def _settle_shipped_code() -> None:
    shipped = {}
    for entry in sys.path:  # the job's own folders come first: the interpreter was just told of them
        name = os.path.basename(entry)
        kind = next((k for k in SHIPPED if name.startswith(k)), None)
        if kind and kind not in shipped and "headwater-shipped" not in entry and os.path.isdir(entry):
            shipped[kind] = entry
    if not shipped:
        return
    keep = os.path.join(tempfile.gettempdir(), "headwater-shipped")
    os.makedirs(keep, exist_ok=True)
    kept = {}
    for kind, entry in shipped.items():
        target = os.path.join(keep, os.path.basename(entry))
        if not os.path.isdir(target):
            partial = f"{target}.partial-{os.getpid()}-{threading.get_ident()}"
            shutil.copytree(entry, partial, symlinks=True)
            try:
                os.rename(partial, target)
            except OSError:  # another operator kept the same folder first
                shutil.rmtree(partial, ignore_errors=True)
        kept[kind] = target
    for target in reversed(list(kept.values())):
        while target in sys.path:
            sys.path.remove(target)
        sys.path.insert(0, target)
    code = kept.get(SHIPPED[0])
    loaded = getattr(sys.modules.get(OWN[0]), "__file__", None) or ""
    if code and loaded and not loaded.startswith(code + os.sep):
        for name in list(sys.modules):
            if name in OWN or name.startswith(tuple(f"{own}." for own in OWN)):
                del sys.modules[name]
        importlib.invalidate_caches()


cloudpickle.register_pickle_by_value(sys.modules[__name__])
