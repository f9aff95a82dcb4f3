"""The local settings file (`.env`) that `make run` writes, read before Django starts.

manage.py, crm/wsgi.py and gunicorn.conf.py load it, so every command run from the
project folder sees the settings `make run` used. The real environment always wins, and
`DJANGO_ENV_FILE` names another file (`/dev/null`: none).
"""

import os
from pathlib import Path

from dotenv import load_dotenv

DEFAULT = Path(__file__).resolve().parent.parent / ".env"


def load_env_file() -> None:
    load_dotenv(os.environ.get("DJANGO_ENV_FILE") or DEFAULT, override=False)
