#!/usr/bin/env python3
"""Stand-in for the Proxmox VE REST API of a cluster, for tests without Proxmox.

    pve_api.py --dir DIR --nodes 3 --port 0 --port-file DIR/port \\
               --cert cert.pem --key key.pem --token-file token \\
               [--schema pve-api-schema.json] [--task-delay 0.2] [--node-memory-gib 64]

An HTTPS server on 127.0.0.1 (`--port 0` picks a free port, written to
`--port-file` and printed as `listening on https://127.0.0.1:PORT`) serving
`/api2/json/...` for the nodes `pve1..pveN` of one cluster, on the behavioural
model the CLI stand-in (pve-standin.py) uses; the endpoints and which refusals
are immediate or end a task: pve_api_routes.py. It stops on SIGTERM or SIGINT.

- Auth: `Authorization: PVEAPIToken=user@realm!tokenid=secret` with the token of
  `--token-file` (one line `user@realm!tokenid=secret`) or `--token`; none is
  401 `No ticket`, a wrong one 401 `Authentication failed!` (pve-manager
  src/PVE/HTTPServer.pm auth_handler). The secret is compared, never written.
- Every request's parameters (query, form or JSON body, and the path's) are
  checked against the API schema (`--schema`, default $PHOENIX_STANDIN_SCHEMA;
  pve_schema.py): a violation is HTTP 400 `Parameter verification failed.`
  with `errors` {param: message}, and a line in `violations.log`. A path the
  schema lacks is 501 `Method 'GET /x' not implemented` (pve-manager
  HTTPServer.pm rest_handler); one the stand-in does not serve, 501 too.
- Errors are Proxmox's JSON: the message is the HTTP reason phrase and
  `{"data": null, "message": "...\\n"}` (pve-http-server
  src/PVE/APIServer/Formatter/Standard.pm prepare_response_data).
- State: DIR/state.json (pve_state.py; read at start, also seeded by a test; re-read when it
  changes on disk; written after each change, under the flock on DIR/.lock that
  the CLI stand-in takes too: `pct` run on a node through node-ssh.py shares it). `nodes` in it (or `--nodes`)
  are the cluster's nodes (pve_cluster.py). A refused call leaves no change.
- Requests: every one is appended to DIR/requests.log as a JSON line
  {method, path, params, status, user} (secret-bearing params masked).
- Faults: DIR/down holds node names, one a line: a call for such a node gets
  what pveproxy answers when it cannot reach the node it proxies to
  (pve-http-server AnyEvent.pm proxy_request: AnyEvent::HTTP's 595 with the
  connect error, `No route to host`); `<node> drop` closes the connection
  without an answer instead. Such a node is `online 0` in /cluster/status and
  its guests `unknown` in /cluster/resources. A node the cluster lacks is
  HTTP 500 from the name lookup (pve-manager HTTPServer.pm remote_node_ip).
  node-ssh.py refuses ssh to a node listed in DIR/down too.
  DIR/fail holds `<substring> <times>` lines like the CLI stand-in's: the next
  <times> calls whose line (`POST /nodes/pve1/lxc/101/status/start k=v...`)
  contains <substring> fail: an asynchronous call with a task that ends in
  `injected failure: <line>`, another with HTTP 500; a `lock:` rule answers
  `CT is locked (snapshot)` (or `VM ...`).
- Tasks: pve_tasks.py; `--task-delay` seconds before a task's work (0: done
  before the call answers).
"""
import argparse
import hmac
import json
import os
import signal
import socket
import ssl
import sys
import threading
import time
import types
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import pve_api_routes  # noqa: E402
import pve_conf  # noqa: E402
import pve_model  # noqa: E402
from pve_cluster import DEFAULT_NODE_MEMORY, GIB, ParamError, check_lock, ensure_nodes, node_names, node_of  # noqa: E402
from pve_model import Refused, die  # noqa: E402
from pve_schema import Schema, check_params  # noqa: E402
from pve_state import Cluster  # noqa: E402
from pve_tasks import Tasks  # noqa: E402

pve_model.QUIET = True
SECRET_PARAMS = {"password", "cipassword", "content-password", "keyring", "encryption-key", "master-pubkey"}


class Violation(Exception):
    """A request the API would refuse as malformed (HTTP 400, violations.log)."""

    def __init__(self, errors):
        super().__init__("Parameter verification failed.")
        self.errors = errors


class App:
    def __init__(self, args):
        self.dir = args.dir
        self.schema = Schema(args.schema)
        self.cl = Cluster(os.path.join(args.dir, "state.json"), args.root or os.path.join(args.dir, "root"))
        with self.cl.lock:
            self.cl.stamp = None
            self.cl.reload()
            ensure_nodes(self.cl.S, args.nodes, int(args.node_memory_gib * GIB))
            self.cl.saved()
        self.tasks = Tasks(self.cl, args.task_delay)
        token = args.token or open(args.token_file).read().strip()
        if "!" not in token.split("=", 1)[0] or "=" not in token:
            sys.exit("the token must be user@realm!tokenid=secret")
        self.token_id, self.secret = token.split("=", 1)
        self.log_lock = threading.Lock()

    def user(self, header):
        """The token's user (`user@realm!tokenid`), or the 401 message."""
        if not header or not header.startswith("PVEAPIToken="):
            return None, "No ticket"
        tid, _, secret = header[len("PVEAPIToken="):].partition("=")
        if tid != self.token_id or not hmac.compare_digest(secret.encode(), self.secret.encode()):
            return None, "Authentication failed!"
        return tid, None

    def append(self, name, text):
        with self.log_lock, open(os.path.join(self.dir, name), "a") as f:
            f.write(text)

    def down(self):
        """{node: mode} of the nodes marked down."""
        try:
            lines = open(os.path.join(self.dir, "down")).read().split("\n")
        except FileNotFoundError:
            return {}
        return {p[0]: (p[1] if len(p) > 1 else "595") for p in (l.split() for l in lines) if p}

    def injected(self, line):
        """The rule of DIR/fail this call triggers (its count taken), or None."""
        path = os.path.join(self.dir, "fail")
        with self.log_lock:
            try:
                rules = [l.strip().rsplit(None, 1) for l in open(path) if l.strip()]
            except FileNotFoundError:
                return None
            for r in rules:
                pattern = r[0][len("lock:"):] if r[0].startswith("lock:") else r[0]
                if int(r[1]) > 0 and pattern in line:
                    r[1] = str(int(r[1]) - 1)
                    open(path, "w").write("".join(f"{a} {b}\n" for a, b in rules))
                    return r[0]
        return None


class Request:
    """What an endpoint of pve_api_routes.py gets."""

    def __init__(self, app, method, path, params, match, user, line, down):
        self.app, self.cl, self.tasks = app, app.cl, app.tasks
        self.method, self.path, self.params, self.match, self.user, self.line = method, path, params, match, user, line
        self.kind = match.get("kind")
        self.node = match.get("node") or params.get("node")
        self.down = down
        self.total = None

    def c(self, **kw):
        """The namespace the model's CLI-shaped functions take."""
        ns = types.SimpleNamespace(S=self.cl.S, G=self.cl.G, tool="pct" if self.kind == "lxc" else "qm", sub="",
                                   pos=[], opts={}, argv=[], bad=self.bad, line=self.line, node=self.node)
        ns.__dict__.update(kw)
        return ns

    def guest(self, lock=False):
        """(vmid, guest) of the path, which must be on the path's node."""
        gid = self.params["vmid"]
        g = self.cl.G.get(gid)
        if g is None or g["type"] != self.kind or node_of(g) != self.node:
            # The call runs on the path's node, which has no such config file.
            what = "lxc" if self.kind == "lxc" else "qemu-server"
            die(f"Configuration file 'nodes/{self.node}/{what}/{gid}.conf' does not exist")
        self.cl.touch(gid)
        pve_conf.read_raw(self.cl.root, gid, g)  # as phoenix may have edited the file
        if lock and self.params.get("skiplock") != "1":
            check_lock(g)
        g.setdefault("snapshots", [])
        g.setdefault("files", {})
        return gid, g

    def task(self, name, vmid, work, locks=()):
        """Start the call's task (pve_tasks.py); `locks` [(vmid, lock)] are held
        until its work starts."""
        for gid, lock in locks:
            if gid in self.cl.G:
                self.cl.G[gid]["config"]["lock"] = lock

        def release():
            for gid, lock in locks:
                g = self.cl.G.get(gid)
                if g and g["config"].get("lock") == lock:
                    del g["config"]["lock"]
        return self.tasks.start(self.node, pve_api_routes.TASK[self.kind][name], vmid, self.user, work, release)

    def bad(self, msg):
        raise Violation({"request": msg})

    def json(self, text):
        return json.loads(text)

    def config_props(self):
        spath = f"/nodes/{{node}}/{self.kind}/{{vmid}}/config"
        return (self.app.schema.info(spath, "PUT") or {}).get("parameters", {}).get("properties", {})


def masked(params):
    return {k: ("***" if k in SECRET_PARAMS else v) for k, v in params.items()}


def as_text(v):
    """A parameter as the model takes it: text (`1`/`0` for a boolean)."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    if isinstance(v, list):
        return [as_text(x) for x in v]
    return str(v)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms waits
    server_version = "pve-api-daemon/3.0"
    sys_version = ""
    timeout = 60

    def log_message(self, *args):
        pass  # requests.log is the record

    def do_GET(self):
        self.serve()

    do_POST = do_PUT = do_DELETE = do_GET

    def reply(self, code, data=None, message=None, errors=None, total=None):
        body = {"data": data}
        if message is not None:
            body["message"] = message.rstrip("\n") + "\n"
        if errors:
            body["errors"] = errors
        if total is not None:
            body["total"] = total
        raw = json.dumps(body).encode()
        reason = (message or "OK").strip().replace("\n", " ").replace("\r", " ")
        # Logged before the client has its answer: a test that counts the log
        # right after a call finds that call in it.
        self.record(code)
        self.send_response(code, reason)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        return code

    def params(self, url):
        """Query and body parameters (a repeated form key is a list)."""
        params = {}
        for k, v in urllib.parse.parse_qsl(url.query, keep_blank_values=True):
            params[k] = [*params[k], v] if isinstance(params.get(k), list) else [params[k], v] if k in params else v
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode() if n else ""
        if body and "json" in (self.headers.get("Content-Type") or ""):
            data = json.loads(body)
            if not isinstance(data, dict):
                raise Violation({"body": "a JSON body must be an object"})
            params.update({k: v for k, v in data.items() if v is not None})  # null is "not given"
        elif body:
            for k, v in urllib.parse.parse_qsl(body, keep_blank_values=True):
                params[k] = [*params[k], v] if isinstance(params.get(k), list) else [params[k], v] if k in params else v
        return params

    def serve(self):
        app = self.server.app
        url = urllib.parse.urlsplit(self.path)
        self.logged, self.params_seen = False, {}
        try:
            self.answer(app, self.command, url, self.params_seen)
        finally:
            self.record(None)  # a request that ended without an answer

    def record(self, status):
        """Append this request to requests.log, once (secrets masked)."""
        if getattr(self, "logged", True):
            return
        self.logged = True
        path = urllib.parse.urlsplit(self.path).path
        api = path[len("/api2/json"):] if path.startswith("/api2/json") else path
        self.server.app.append("requests.log", json.dumps({
            "method": self.command, "path": api, "params": masked(self.params_seen),
            "status": status, "user": self.user}) + "\n")

    user = None

    def answer(self, app, method, url, params):
        if not url.path.startswith("/api2/json/"):
            return self.reply(501, message=f"Method '{method} {url.path}' not implemented")
        path = url.path[len("/api2/json"):].rstrip("/")
        try:
            params.update(self.params(url))
        except (ValueError, Violation) as e:
            return self.reply(400, message="Parameter verification failed.", errors={"body": str(e)})
        self.user, why = app.user(self.headers.get("Authorization"))
        if self.user is None:
            return self.reply(401, message=why)
        found = app.schema.lookup(path)
        info = found and app.schema.info(found[0], method)
        if not info:
            return self.reply(501, message=f"Method '{method} {path}' not implemented")
        errors = {}
        for k, v in found[1].items():
            v = urllib.parse.unquote(v)
            if k in params and str(params[k]) != v:
                errors[k] = "duplicate parameter (already defined in URI) with conflicting values!"
            params[k] = v
        errors.update(check_params(info, params))
        line = f"{method} {path}" + "".join(f" {k}={v}" for k, v in sorted(masked(params).items()))
        if errors:
            app.append("violations.log", "".join(f"{line}: {k}: {m}\n" for k, m in sorted(errors.items())))
            return self.reply(400, message="Parameter verification failed.", errors=errors)
        text = {k: as_text(v) for k, v in params.items()}
        node = text.get("node") if "{node}" in found[0] else None
        down = app.down()
        if node is not None and node not in node_names(app.cl.S):
            return self.reply(500, message=f"hostname lookup '{node}' failed - failed to get address info for: "
                                           f"{node}: Name or service not known")
        if node in down:
            if down[node] == "drop":
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return "dropped"
            return self.reply(595, message="No route to host")
        handler, match = pve_api_routes.find(method, path)
        if handler is None:
            return self.reply(501, message=f"the stand-in does not serve {method} {found[0]}")
        r = Request(app, method, path, text, match, self.user, line, set(down))
        with app.cl.lock:
            app.cl.reload()
            app.cl.begin()
            rule = app.injected(line)
            try:
                if rule and rule.startswith("lock:"):
                    die(f"{'VM' if r.kind == 'qemu' else 'CT'} is locked (snapshot)")
                task = pve_api_routes.task_name(method, path)
                if rule and task:
                    r.kind = task[0]
                    return self.reply(200, data=r.task(task[1], text.get("vmid", ""),
                                                       lambda log: die(f"injected failure: {line}")))
                if rule:
                    die(f"injected failure: {line}")
                data = handler(r)
                if method != "GET" or "/agent/" in path:
                    app.cl.saved()
                return self.reply(200, data=data, total=r.total)
            except Refused as e:
                app.cl.discard()
                return self.reply(500, message=e.msg)
            except ParamError as e:
                app.cl.discard()
                return self.reply(400, message="Parameter verification failed.", errors=e.errors)
            except Violation as e:
                app.cl.discard()
                app.append("violations.log", "".join(f"{line}: {m}\n" for m in e.errors.values()))
                return self.reply(400, message="Parameter verification failed.", errors=e.errors)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        """TLS per connection, in the connection's thread (a client that
        refuses the certificate ends only its own connection)."""
        try:
            request.settimeout(30)
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (ssl.SSLError, OSError):
            pass
        finally:
            conn.close()


def watch_parent(parent, stop):
    while os.getppid() == parent:
        time.sleep(0.5)
    stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True, help="state directory (state.json, logs, fault files)")
    p.add_argument("--nodes", type=int, default=3, help="cluster size (pve1..pveN), at least 1")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--port-file", help="where to write the port once listening")
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--token-file", help="file with user@realm!tokenid=secret")
    p.add_argument("--token", help="user@realm!tokenid=secret (prefer --token-file)")
    p.add_argument("--schema", default=os.environ.get("PHOENIX_STANDIN_SCHEMA"))
    p.add_argument("--root", help="the nodes' `/` for their files (/etc/pve/lxc/ID.conf); default DIR/root")
    p.add_argument("--task-delay", type=float, default=0.0, help="seconds a task runs before its work")
    p.add_argument("--node-memory-gib", type=float, default=DEFAULT_NODE_MEMORY / GIB)
    p.add_argument("--exit-with-parent", action="store_true",
                   help="stop when the process that started it is gone (no orphan after a killed test)")
    args = p.parse_args()
    if not args.schema or not (args.token or args.token_file) or args.nodes < 1:
        p.error("--schema (or PHOENIX_STANDIN_SCHEMA), a token and --nodes >= 1 are needed")
    os.makedirs(args.dir, exist_ok=True)
    server = Server(("127.0.0.1", args.port), Handler)
    server.app = App(args)
    server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.tls.load_cert_chain(args.cert, args.key)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"listening on https://127.0.0.1:{port}", flush=True)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:
        threading.Thread(target=watch_parent, args=(os.getppid(), stop), daemon=True).start()
    server.serve_forever(poll_interval=0.1)
    server.server_close()


if __name__ == "__main__":
    main()
