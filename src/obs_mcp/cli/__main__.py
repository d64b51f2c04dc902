"""`python -m obs_mcp.cli` = the `obs-mcp` command."""

import sys

from obs_mcp.cli import main

sys.exit(main())
