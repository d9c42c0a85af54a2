"""``python -m enas.report <folder>``: the same as ``enas-report``."""
import sys

from . import main

sys.exit(main())
