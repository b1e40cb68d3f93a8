//! Where one pve command line goes on a cluster driven through the REST API: the
//! API call it stands for, or a shell on the node it concerns. Pure: no I/O.
//!
//! `pct`, `qm` and `pvesh` are thin command-line faces of the API: each `pct`/`qm`
//! subcommand is one API method (pve-container `src/PVE/CLI/pct.pm` and
//! qemu-server `PVE/CLI/qm.pm` map them: `set => [ 'PVE::API2::LXC::Config',
//! 'update_vm', ['vmid'], { node => $nodename } ]`, `start => [ 'PVE::API2::LXC::Status',
//! 'vm_start', ...]`, and so on), with the positional arguments named in that table.
//! So the pve backend's command lines, the same ones for both backends, become
//! exactly the calls the tools would make, parameters as the tools pass them (as
//! strings, which the API's schema parses as it parses a form). What the tools
//! print, the caller still reads: [`Render`] turns the API's JSON back into the
//! tools' text (`pct config`'s `key: value` lines, `pct pending`'s `cur`/`new`/`del`
//! lines from pve-guest-common `PVE::GuestHelpers::format_pending`, `listsnapshot`'s
//! tree from `print_snapshot_tree`, `pct status`'s `status: running`).
//!
//! What has no API method runs in a shell on a node: `pct exec`, `pct push` and
//! `pct pull` (the API cannot run a command in a container), on the node that
//! holds the container, and every command that is not `pct`, `qm` or `pvesh` (a
//! staging upload, an image download, a host step's tools).

use super::http::Method;
use crate::backend::pve::cmd::{Cmd, split_options};

/// The kind of a guest, as its API path names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Lxc,
    Qemu,
}

impl Kind {
    pub fn path(self) -> &'static str {
        match self {
            Kind::Lxc => "lxc",
            Kind::Qemu => "qemu",
        }
    }
}

/// Where a call goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// `/nodes/{node}/{kind}/{vmid}{rest}` on the node that holds the guest.
    Guest { kind: Kind, vmid: u32, rest: String },
    /// `/nodes/{node}/{kind}` with `vmid`: a new guest, on the node placement picks.
    New { kind: Kind, vmid: u32 },
    /// `/nodes/{node}/{kind}/{source}/clone` with `newid`: on the source's node,
    /// the clone placed (with `target` when that is another node).
    Clone { kind: Kind, source: u32, newid: u32 },
    /// A path that names its node itself, or none (`/cluster/resources`).
    Path(String),
}

/// How the answer is printed for the caller, as the tool would print it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Render {
    /// `pvesh ... --output-format json`: the data as JSON.
    Json,
    /// `pct config` / `qm config`: `key: value` lines.
    Config,
    /// `pct pending` / `qm pending`.
    Pending,
    /// `pct status`: `status: running`.
    Status,
    /// `pct listsnapshot`: the snapshot tree.
    Snapshots,
    /// Nothing (the tools print nothing, or a task's log).
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: Method,
    pub at: At,
    pub params: Vec<(String, String)>,
    pub render: Render,
}

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Api(Call),
    /// `qm guest exec ID [--pass-stdin 1] [--timeout S] -- ARGV`: the agent's
    /// `exec`, then `exec-status` until it exits (qemu-server `PVE/CLI/qm.pm`
    /// `guest exec`, which waits `--timeout`, 30 s by default).
    AgentExec {
        vmid: u32,
        argv: Vec<String>,
        stdin: bool,
        timeout_secs: u64,
    },
    /// A shell on a node: the node holding `vmid` when there is one.
    Shell {
        vmid: Option<u32>,
    },
}

/// Name-value pairs, as a call's parameters.
type Pairs = Vec<(String, String)>;

/// A command's positional arguments and its options, owned (see [`split_options`]).
fn split_owned(args: &[String]) -> Option<(Vec<&str>, Pairs)> {
    let (positional, options) = split_options(args)?;
    let options = options
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Some((positional, options))
}

fn vmid(text: &str) -> Option<u32> {
    text.parse().ok()
}

/// The route of `cmd`.
pub fn route(cmd: &Cmd) -> Route {
    let argv = &cmd.argv;
    let Some((tool, args)) = argv.split_first() else {
        return Route::Shell { vmid: None };
    };
    match tool.as_str() {
        // A script under the remote `timeout` (`Runner::check_script`): where the
        // command it wraps runs.
        "timeout" => match args {
            [k, _, _, rest @ ..] if k == "-k" && !rest.is_empty() => match route(&Cmd {
                argv: rest.to_vec(),
            }) {
                Route::Shell { vmid } => Route::Shell { vmid },
                _ => Route::Shell { vmid: None },
            },
            _ => Route::Shell { vmid: None },
        },
        "pct" => guest_route(Kind::Lxc, args),
        "qm" => guest_route(Kind::Qemu, args),
        "pvesh" => pvesh_route(args).unwrap_or(Route::Shell { vmid: None }),
        _ => Route::Shell { vmid: None },
    }
}

fn pvesh_route(args: &[String]) -> Option<Route> {
    let (verb, rest) = args.split_first()?;
    let method = match verb.as_str() {
        "get" | "ls" => Method::Get,
        "set" => Method::Put,
        "create" => Method::Post,
        "delete" => Method::Delete,
        _ => return None,
    };
    let (positional, options) = split_owned(rest)?;
    let [path] = positional.as_slice() else {
        return None;
    };
    let params = options
        .into_iter()
        .filter(|(k, _)| k != "output-format" && k != "noborder" && k != "noheader")
        .collect();
    Some(Route::Api(Call {
        method,
        at: At::Path((*path).to_string()),
        params,
        render: Render::Json,
    }))
}

fn guest_route(kind: Kind, args: &[String]) -> Route {
    let shell_on = |id: Option<&String>| Route::Shell {
        vmid: id.and_then(|i| vmid(i)),
    };
    let Some((sub, rest)) = args.split_first() else {
        return Route::Shell { vmid: None };
    };
    // `qm guest exec|cmd ID ...` and `qm cloudinit update ID`.
    if kind == Kind::Qemu && (sub == "guest" || sub == "cloudinit") {
        return qm_nested(sub, rest).unwrap_or_else(|| shell_on(rest.get(1)));
    }
    if matches!(sub.as_str(), "exec" | "push" | "pull" | "enter" | "console") {
        return shell_on(rest.first());
    }
    let Some((positional, params)) = split_owned(rest) else {
        return shell_on(rest.first());
    };
    let Some(id) = positional.first().and_then(|p| vmid(p)) else {
        return Route::Shell { vmid: None };
    };
    let guest = |rest: &str| At::Guest {
        kind,
        vmid: id,
        rest: rest.to_string(),
    };
    let with = |extra: &[(&str, &str)], mut params: Vec<(String, String)>| {
        let mut all: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        all.append(&mut params);
        all
    };
    let (method, at, params, render) = match (sub.as_str(), &positional[1..]) {
        ("create", []) if kind == Kind::Qemu => (
            Method::Post,
            At::New { kind, vmid: id },
            params,
            Render::Nothing,
        ),
        ("create", [ostemplate]) if kind == Kind::Lxc => (
            Method::Post,
            At::New { kind, vmid: id },
            with(&[("ostemplate", ostemplate)], params),
            Render::Nothing,
        ),
        // `qm set` is the asynchronous `POST .../config` (it may allocate storage:
        // `import-from`); `pct set` the synchronous `PUT`.
        ("set", []) if kind == Kind::Qemu => {
            (Method::Post, guest("/config"), params, Render::Nothing)
        }
        ("set", []) => (Method::Put, guest("/config"), params, Render::Nothing),
        ("config", []) => (Method::Get, guest("/config"), params, Render::Config),
        ("pending", []) => (Method::Get, guest("/pending"), params, Render::Pending),
        ("status", []) => (
            Method::Get,
            guest("/status/current"),
            params,
            Render::Status,
        ),
        ("start" | "stop" | "shutdown" | "reboot" | "suspend" | "resume", []) => (
            Method::Post,
            guest(&format!("/status/{sub}")),
            params,
            Render::Nothing,
        ),
        ("clone", [newid]) => match vmid(newid) {
            Some(newid) => (
                Method::Post,
                At::Clone {
                    kind,
                    source: id,
                    newid,
                },
                params,
                Render::Nothing,
            ),
            None => return Route::Shell { vmid: Some(id) },
        },
        ("snapshot", [name]) => (
            Method::Post,
            guest("/snapshot"),
            with(&[("snapname", name)], params),
            Render::Nothing,
        ),
        ("delsnapshot", [name]) => (
            Method::Delete,
            guest(&format!("/snapshot/{name}")),
            params,
            Render::Nothing,
        ),
        ("rollback", [name]) => (
            Method::Post,
            guest(&format!("/snapshot/{name}/rollback")),
            params,
            Render::Nothing,
        ),
        ("listsnapshot", []) => (Method::Get, guest("/snapshot"), params, Render::Snapshots),
        ("template", []) => (Method::Post, guest("/template"), params, Render::Nothing),
        ("destroy", []) => (Method::Delete, guest(""), params, Render::Nothing),
        ("resize", [disk, size]) => (
            Method::Put,
            guest("/resize"),
            with(&[("disk", disk), ("size", size)], params),
            Render::Nothing,
        ),
        ("migrate", [target]) => (
            Method::Post,
            guest("/migrate"),
            with(&[("target", target)], params),
            Render::Nothing,
        ),
        _ => return Route::Shell { vmid: Some(id) },
    };
    Route::Api(Call {
        method,
        at,
        params,
        render,
    })
}

/// `qm guest exec ID [opts] -- ARGV`, `qm guest cmd ID ping`, `qm cloudinit update ID`.
fn qm_nested(sub: &str, rest: &[String]) -> Option<Route> {
    let (what, rest) = rest.split_first()?;
    let (id, rest) = rest.split_first()?;
    let id = vmid(id)?;
    let guest = |path: &str| At::Guest {
        kind: Kind::Qemu,
        vmid: id,
        rest: path.to_string(),
    };
    match (sub, what.as_str()) {
        ("guest", "exec") => {
            let dashes = rest.iter().position(|a| a == "--")?;
            let (_, options) = split_owned(&rest[..dashes])?;
            let mut stdin = false;
            let mut timeout_secs = 30;
            for (k, v) in options {
                match k.as_str() {
                    "pass-stdin" => stdin = v == "1",
                    "timeout" => timeout_secs = v.parse().ok()?,
                    _ => return None,
                }
            }
            Some(Route::AgentExec {
                vmid: id,
                argv: rest[dashes + 1..].to_vec(),
                stdin,
                timeout_secs,
            })
        }
        ("guest", "cmd") => {
            let [command] = rest else { return None };
            Some(Route::Api(Call {
                method: if command.starts_with("get-") || command == "info" {
                    Method::Get
                } else {
                    Method::Post
                },
                at: guest(&format!("/agent/{command}")),
                params: Vec::new(),
                render: Render::Json,
            }))
        }
        ("cloudinit", "update") if rest.is_empty() => Some(Route::Api(Call {
            method: Method::Put,
            at: guest("/cloudinit"),
            params: Vec::new(),
            render: Render::Nothing,
        })),
        _ => None,
    }
}

#[cfg(test)]
#[path = "route_tests.rs"]
mod tests;
