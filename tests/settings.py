"""The settings the test suite runs on: the project's, as a local run (plain HTTP, dev key).

So `.venv/bin/pytest …` works as the README prints it, with nothing exported by hand.
Servers the tests start get their settings from the environment the test gives them.
"""

import os

os.environ.setdefault("DJANGO_LOCAL", "1")

from crm.settings import *  # noqa: E402, F403
