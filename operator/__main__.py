"""`python -m heteropool` is the `heteropool` command."""

from heteropool.cli import main

raise SystemExit(main())
