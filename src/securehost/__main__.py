"""``python -m securehost``: the command line."""

import sys

from securehost._cli import main

sys.exit(main())
