import sys

from ghostbench.commands.cli import main

sys.exit(main())
