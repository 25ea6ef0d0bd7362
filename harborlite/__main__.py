import sys

from harborlite.cli import main

sys.exit(main())
