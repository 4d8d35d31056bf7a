"""Entry point for ``python -m mailtix``."""

from mailtix.cli import main

raise SystemExit(main())
