"""`pct exec` of a file pushed into a container, run for real (when the state
directory has `guest-exec`; see pve-standin.py): what lets a test see a feature's
script run with the arguments, environment and files phoenix gave it.

Only a command that runs a pushed file runs: `[env K=V...] [timeout [-k N]
SECS] [INTERPRETER] FILE ARGS...`, FILE a path `pct push` wrote and
INTERPRETER a shell, python3 or perl. The guest's
pushed files are written under a temporary directory (the guest's `/` for this
command, also its working directory) and every argument that names one of them
is pointed there; the script's own mentions of paths are not rewritten. It runs
with a clean environment (PATH of a Debian root, HOME the temporary directory,
plus what `env` sets), stdin and output passed through.
"""
import os
import subprocess
import tempfile

TIMEOUT_FLAGS = ("-k", "-s", "--kill-after", "--signal")
# What a script's `#!` names (phoenix's Script::interpreter); no other program runs.
INTERPRETERS = ("sh", "bash", "dash", "python3", "perl")


def skip_env(cmd, i):
    """Past `env K=V...` at `i`."""
    if i < len(cmd) and os.path.basename(cmd[i]) == "env":
        i += 1
        while i < len(cmd) and "=" in cmd[i] and not cmd[i].startswith("-"):
            i += 1
    return i


def pushed_command(files, cmd):
    """A function (guest root dir -> argv) when `cmd` runs a pushed file, else None."""
    i = skip_env(cmd, 0)
    if i < len(cmd) and os.path.basename(cmd[i]) == "timeout":
        i += 1
        while i < len(cmd) and cmd[i].startswith("-"):
            i += 2 if cmd[i] in TIMEOUT_FLAGS else 1
        i += 1  # the duration
    rest = cmd[skip_env(cmd, i):]  # a `#!/usr/bin/env bash` script: `env bash FILE`
    runs_file = rest and rest[0] in files
    interprets_file = len(rest) > 1 and os.path.basename(rest[0]) in INTERPRETERS and rest[1] in files
    if not (runs_file or interprets_file):
        return None

    def argv(root):
        for path, text in files.items():
            dest = root + "/" + path.lstrip("/")
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "wb") as f:
                f.write(text.encode("utf-8", "surrogateescape"))
            os.chmod(dest, 0o755)
        return [root + "/" + a.lstrip("/") if a in files else a for a in cmd]
    return argv


def run(argv_of, state_dir):
    """Run the command in a fresh guest root under `state_dir`; its exit status."""
    with tempfile.TemporaryDirectory(prefix="guest-", dir=state_dir) as root:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": root,
               "LANG": "C.UTF-8"}
        return subprocess.run(argv_of(root), cwd=root, env=env).returncode
