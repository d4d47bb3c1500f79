from chargehook.cli import main

raise SystemExit(main())
