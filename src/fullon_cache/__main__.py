"""``python -m fullon_cache`` runs the ``fullon-cache`` command."""

import sys

from fullon_cache.cli import main

sys.exit(main())
