"""`python -m gitops_edge` runs the command line (same as the `gitops-edge` script)."""

from gitops_edge.cli.main import main

raise SystemExit(main())
