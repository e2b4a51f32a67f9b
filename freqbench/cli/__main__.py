import sys

from freqbench.cli import main

sys.exit(main())
