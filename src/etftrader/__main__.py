"""``python -m etftrader``: the same command line as the ``etftrader`` script.

Scheduled runs call the interpreter by its absolute path with ``-m etftrader`` so they do not depend
on PATH or on an activated virtual environment (cron and Task Scheduler start with neither).
"""

import sys

from etftrader.cli import main

if __name__ == "__main__":
    sys.exit(main())
