"""`python -m fastenc`: the fastenc command."""
import sys

from .cli import main

sys.exit(main())
