"""Desktop operations: scheduled weekly runs, the ``doctor`` checks and opening the workbook in Excel.

Light on import (no pandas, no cvxpy at module level) because the CLI's ``schedule`` and ``doctor``
commands load it; each submodule imports heavy libraries only inside the function that needs them.
"""

from .excel import open_workbook

__all__ = ["open_workbook"]
