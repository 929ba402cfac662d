"""Reading a named input file with a size bound, refusing what is not a regular file.

`Path.read_bytes()` on a device reads until memory runs out (`/dev/zero` got the process
killed) and on a FIFO with no writer waits forever; a stat size of 0 says nothing about
either. Every file the CLI is handed by name (texts, manifests, applicants, plans, samples)
goes through here: a regular file, read at most `max_bytes + 1` bytes.
"""

from __future__ import annotations

import stat
from pathlib import Path

from screening.errors import InvalidInputError


def read_file_limited(path: Path, max_bytes: int, what: str = "a file", hint: str = "") -> bytes:
    """The bytes of regular file `path`, or InvalidInputError naming it and saying why not
    (`hint` is added to the refusal of a device, pipe or socket)."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InvalidInputError(f"{path}: is a directory")
        if not stat.S_ISREG(mode):
            raise InvalidInputError(f"{path}: not a regular file (a device, pipe or socket)"
                                    + (f"; {hint}" if hint else ""))
        with path.open("rb") as f:
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise InvalidInputError(f"{path}: larger than {max_bytes} bytes, the limit for "
                                f"{what}")
    return data
