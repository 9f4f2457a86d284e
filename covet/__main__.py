import sys

from covet.cli import main

sys.exit(main())
