"""Making permission faults bite when the tests run as root.

Root reads a chmod 000 file and writes a read-only folder anyway, through two capabilities
(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH). A worker started without them obeys file modes like
any user, while staying the same user: it can still import the package from a clone in a
private (0700) folder, which a worker switched to another user (`nobody`) cannot.
"""

from __future__ import annotations

import os

WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def obeying_file_modes() -> list[str]:
    """Command prefix for a process that permission bits stop (empty when not root)."""
    return WITHOUT_OVERRIDE if os.getuid() == 0 else []
