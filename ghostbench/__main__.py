import sys

from ghostbench.commands.cli import main

if __name__ == "__main__":  # not when a spawned child (exporters/isolate.py) imports it
    sys.exit(main())
