import sys

from clara_runner.cli import main

sys.exit(main())
