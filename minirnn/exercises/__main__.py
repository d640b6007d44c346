"""python -m minirnn.exercises: list, start and check the exercises (see __init__.py)."""
import sys

from minirnn.errors import run_cli
from minirnn.exercises import main

sys.exit(run_cli(main))
