"""Who is making a registry change: ``LOOPWRIGHT_USER``, else the operating-system user.

Examples
--------
>>> import os
>>> os.environ["LOOPWRIGHT_USER"] = "ada"
>>> current_actor()
'ada'
>>> del os.environ["LOOPWRIGHT_USER"]
"""

from __future__ import annotations

import getpass

from loopwright.config import get_settings


def current_actor() -> str:
    """The name written to the audit log for changes made by this process."""
    configured = get_settings().user
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers) and no USER/LOGNAME
        return "unknown"
