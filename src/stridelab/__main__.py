from stridelab.cli import main

raise SystemExit(main())
