from ltlib.cli import main

raise SystemExit(main())
