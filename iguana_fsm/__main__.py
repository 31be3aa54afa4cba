from iguana_fsm import cli

raise SystemExit(cli.main())
