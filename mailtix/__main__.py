"""Entry point for ``python -m mailtix``."""

from mailtix.cli.main import main

raise SystemExit(main())
