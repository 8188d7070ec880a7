"""``python -m mapds``: the ``mapds`` command."""

from mapds.cli import main

raise SystemExit(main())
