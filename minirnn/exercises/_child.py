"""The child side of ``isolate.run_isolated``: ``python -m minirnn.exercises._child MODE PATH RESULT``
grades (or overfits) the learner's file in this process and writes the outcome as JSON to RESULT.

Kept apart from ``isolate`` so that the package imports ``isolate`` and this module imports the
package, never both ways round."""
from __future__ import annotations

import json
import os
import sys

from ..errors import UsageError


def child(mode: str, path: str, result: str) -> int:
    from . import check   # the package; nothing in it imports this module
    try:
        if mode == "check":
            r = check(path, isolate=False)
            out = {"passed": r.passed, "text": r.text(path), "first": r.first_error()}
        elif mode == "overfit":
            from .overfit import overfit
            ok, line = overfit(path)
            out = {"passed": ok, "text": line, "first": "" if ok else line}
        else:
            out = {"usage_error": f"no such mode {mode!r}"}
    except UsageError as e:
        out = {"usage_error": " ".join(str(e).split())}
    except SystemExit as e:                          # sys.exit outside the graded calls (an overfit run)
        out = {"passed": False, "problem": f"{path} called sys.exit({e.code!r}) during the {mode}"}
    except NotImplementedError as e:                 # an overfit run of a file still being written
        out = {"passed": False, "problem": f"{path} is not written yet: fill in its TODOs ({e})"}
    except Exception as e:  # noqa: BLE001 - the learner's code raised during an overfit run
        out = {"passed": False, "problem": f"{path} raised {type(e).__name__} during the {mode}: "
                                           f"{' '.join(str(e).split())[:200]} (run its check)"}
    tmp = result + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f)
    os.replace(tmp, result)
    return 0


if __name__ == "__main__":
    sys.exit(child(*sys.argv[1:4]))
