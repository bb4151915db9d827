"""``python -m engine.cli``: the same as the ``ripple`` script."""

import sys

from engine.cli import console

sys.exit(console())
