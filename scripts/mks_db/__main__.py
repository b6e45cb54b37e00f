from mks_db.cli import main

raise SystemExit(main())
