import sys

from ghostbench.bench.cli import main

sys.exit(main())
