"""``python -m bench.crash``: the harness, or (``worker ...``) one of its child processes."""

import sys

from bench.crash.cli import main

sys.exit(main())
