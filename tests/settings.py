"""The settings the test suite runs on: the project's, as a local run (plain HTTP, dev key).

So `.venv/bin/pytest …` works as the README prints it, with nothing exported by hand.
"""

import os

os.environ.setdefault("DJANGO_LOCAL", "1")
# Servers and commands the tests start in other processes run the project's own settings
# (with the environment each test gives them), not this module.
os.environ["DJANGO_SETTINGS_MODULE"] = "crm.settings"

from crm.settings import *  # noqa: E402, F403
