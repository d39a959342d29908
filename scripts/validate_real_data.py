"""The seed's data check: ``python scripts/validate_real_data.py [OPTIONS]`` = ``etftrader validate``.

Runs from a checkout even when the package is not installed (``src/`` is put on the path).
"""

import sys
from pathlib import Path

_SRC = Path(__file__).resolve().parent.parent / "src"
if _SRC.is_dir() and str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

try:
    from etftrader.cli import main  # noqa: E402
except ImportError as e:  # a Python without the project's packages (e.g. the system python3)
    sys.stderr.write(
        f"Error: etftrader's packages are not installed for {sys.executable} ({e}); run this script "
        f"with the project's Python: .venv/bin/python scripts/validate_real_data.py (Windows: "
        f".venv\\Scripts\\python scripts\\validate_real_data.py), or install first: pip install -e .\n")
    sys.exit(1)

if __name__ == "__main__":
    sys.exit(main(["validate", *sys.argv[1:]]))
