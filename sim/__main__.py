"""``python -m sim`` runs the natsim command line."""

from sim.cli import main

raise SystemExit(main())
