#!/usr/bin/env -S python3 -S
"""One stand-in Proxmox host's tools as a server: `pve-standin.py` without starting
Python for every command.

Run as `standin-server.py <dir>` with $PHOENIX_STANDIN_DIR and $PHOENIX_STANDIN_SCHEMA
set. It imports what the stand-in needs and loads the API schema once, listens on a
free port of 127.0.0.1 and writes `<port> <token>` to `<dir>/addr`. The tools on the
host's PATH are shims (`shim.sh`, written by the tests' `stage()`) that send their
argv, working directory and environment (and stdin for `--pass-stdin`) here.

Every request is served by a process forked for it, which runs the unmodified
stand-in code (`pve-standin.py`, its argv[0] the tool's path) in the request's
directory and environment, with stdout and stderr in `<dir>/req/<id>.out` and
`.err`, then answers `<exit status> <has stdout> <has stderr>`; the shim prints the
files and exits with that status. The stand-in's own locking of its state (flock)
works across these processes as it does across separate runs. A request with the
wrong token is answered `refused` before anything runs (the shim then runs the
stand-in directly). The server exits after $PHOENIX_STANDIN_IDLE seconds (600 by
default) without a request, when `<dir>` goes away, or when the process that
started it (the test) is gone.
"""
# What the stand-in imports, imported once here for every command.
import fcntl, gc, io, json, linecache, os, pickle, random, re, signal, socket, sys, time, traceback, types  # noqa: E401, F401

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, HERE)
import pve_firewall, pve_guests, pve_host, pve_model, pve_schema  # noqa: E401, E402, F401

SCRIPT = os.path.join(HERE, "pve-standin.py")
IDLE = int(os.environ.get("PHOENIX_STANDIN_IDLE", "600"))
SOURCE = open(SCRIPT).read()
CODE = compile(SOURCE, SCRIPT, "exec")


def fields(conn):
    """The request's NUL-terminated fields: token, argv[0], cwd, id, stdin file
    (or empty), argc, the arguments, then NAME=value entries up to an empty field."""
    buf = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError("request cut short")
        buf += chunk
        parts = buf.split(b"\0")[:-1]
        if len(parts) < 6:
            continue
        argc = int(parts[5])
        env = parts[6 + argc:]
        if b"" in env:
            end = env.index(b"")
            return [os.fsdecode(p) for p in parts[:6 + argc]], dict(
                os.fsdecode(e).split("=", 1) for e in env[:end])


def exit_status(code):
    # As Python's own exit: None is 0, a number is the status, anything else is
    # printed to stderr and exits 1.
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    sys.stderr.write(f"{code}\n")
    return 1


def named(code, path):
    """`code` as compiled from `path` (what tracebacks name)."""
    consts = tuple(named(c, path) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=path, co_consts=consts)


def run(path):
    """The stand-in's module code, as a fresh `__main__` run as `path` (a tool's
    name for the script, as in a direct run); its exit status."""
    main = types.ModuleType("__main__")
    main.__file__ = path
    # A traceback quotes the script's lines (`path` is the tool's shim).
    linecache.cache[path] = (len(SOURCE), None, SOURCE.splitlines(True), path)
    sys.modules["__main__"] = main
    try:
        exec(named(CODE, path), main.__dict__)
        return 0
    except SystemExit as e:
        return exit_status(e.code)
    except BaseException as e:  # as an uncaught exception ends a direct run
        traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        return 1


def serve(conn, token, req_dir):
    """In the process forked for one request."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        conn.settimeout(60)  # a shim sends its request at once
        (tok, argv0, cwd, rid, stdin, _argc, *args), env = fields(conn)
        conn.settimeout(None)
        if tok != token or not rid.isdigit():
            raise ValueError("not this server's request")
        out, err = (os.path.join(req_dir, f"{rid}.{x}") for x in ("out", "err"))
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        os.dup2(os.open(stdin or os.devnull, os.O_RDONLY), 0)
        if stdin:
            os.unlink(stdin)
    except Exception as e:  # nothing ran: the shim runs the stand-in directly
        print(f"refused a request: {e!r}", file=sys.__stderr__, flush=True)
        conn.sendall(b"refused\n")
        os._exit(0)
    os.environ.clear()
    os.environ.update(env)
    try:
        os.chdir(cwd)
    except OSError:
        pass
    # `random` (the MAC addresses the stand-in makes up) reseeds itself in a forked
    # process (os.register_at_fork), as a direct run seeds it at start.
    sys.argv = [argv0] + args
    status = run(argv0)
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    has = []
    for path in (out, err):
        empty = os.path.getsize(path) == 0
        if empty:
            os.unlink(path)
        has.append("0" if empty else "1")
    # Close what the stand-in left open (its lock on the state) before answering,
    # as a direct run has when it exits.
    os.closerange(0, conn.fileno())
    os.closerange(conn.fileno() + 1, 1 << 16)
    conn.sendall(f"{status} {has[0]} {has[1]}\n".encode())
    os._exit(0)


def main():
    server_dir = sys.argv[1]
    req_dir = os.path.join(server_dir, "req")
    os.makedirs(req_dir, exist_ok=True)
    pve_schema.load(os.environ["PHOENIX_STANDIN_DIR"])
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked children reap themselves
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # and remove `addr`
    parent = os.getppid()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.settimeout(2)
    token = os.urandom(8).hex()
    addr = os.path.join(server_dir, "addr")
    with open(addr + ".tmp", "w") as f:
        f.write(f"{listener.getsockname()[1]} {token}\n")
    os.replace(addr + ".tmp", addr)
    last = time.monotonic()
    gc.freeze()  # the forked processes need not copy what they inherit to collect it
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        while True:
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                if time.monotonic() - last > IDLE or os.getppid() != parent or not os.path.isdir(server_dir):
                    return
                continue
            last = time.monotonic()
            if os.fork() == 0:
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    listener.close()
                    serve(conn, token, req_dir)
                finally:
                    os._exit(1)
            conn.close()
    finally:
        try:
            os.unlink(addr)
        except OSError:
            pass


if __name__ == "__main__":
    main()
