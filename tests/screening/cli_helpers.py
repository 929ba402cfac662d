"""Running `ipscreen screen image --json` in the CLI tests."""

from __future__ import annotations

import json


def screen(cli, data_dir, *paths, profile=None):
    args = ["--data-dir", data_dir, "screen", "image", *paths, "--json"]
    if profile:
        args += ["--profile", profile]
    r = cli(*args)
    return r, [json.loads(line) for line in r.out.splitlines()]
