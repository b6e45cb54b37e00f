import sys

from mks_db.cli import entry

sys.exit(entry())
