"""sqlite-utils, loaded without numpy and pandas.

sqlite-utils imports numpy and pandas whenever they are installed, only to map their
scalar types to column types; the journal stores none of them. numpy alone costs ~20 MB
resident, and a terminal without a camera must not load it (docs/daemon.md, "Memory"),
so while sqlite-utils is imported the two are hidden (an import of them fails and
sqlite-utils goes on without). When numpy is already loaded (a camera terminal, the
tests) nothing is hidden: it costs nothing more.

Import ``Database`` and ``Migrations`` from here, never from ``sqlite_utils``.
"""

from __future__ import annotations

import sys

_HIDDEN = [name for name in ("numpy", "pandas") if name not in sys.modules]
for _name in _HIDDEN:
    sys.modules[_name] = None  # type: ignore[assignment]  # `import numpy` -> ImportError
try:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations
finally:
    for _name in _HIDDEN:
        if sys.modules.get(_name, 0) is None:
            del sys.modules[_name]

__all__ = ["Database", "Migrations"]
