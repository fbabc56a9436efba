from kubemcp.cli import main

raise SystemExit(main())
