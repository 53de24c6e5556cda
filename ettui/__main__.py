from ettui.cli import main

raise SystemExit(main())
