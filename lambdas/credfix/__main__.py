from credfix.cli import main

raise SystemExit(main())
