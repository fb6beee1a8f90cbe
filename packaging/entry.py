"""PyInstaller entry script for the Glassmind bundle (`glassmind` executable)."""

from ui.launcher import main

raise SystemExit(main())
