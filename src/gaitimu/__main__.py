from gaitimu.cli import main

raise SystemExit(main())
