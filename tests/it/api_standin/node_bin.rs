//! The cluster nodes' side of ssh, laid out for [`super::ApiStandIn::ssh_bin`]:
//! the fake `ssh` (`tests/standin/node-ssh.py`) and the tools a node's shell has.

use std::path::Path;

use crate::pve_standin::STAND_INS;

/// `s` quoted for a POSIX shell.
fn sh_quote(s: &Path) -> String {
    format!("'{}'", s.display().to_string().replace('\'', "'\\''"))
}

fn write_executable(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// The nodes' side of ssh, in `dir`: `node-bin/` (the tools a node's shell
/// finds first: the CLI stand-in under each of [`STAND_INS`]' names, and an
/// `apt-get` that refuses), `ssh-bin/ssh` (`node-ssh.py` with the state
/// directory, schema and `node-bin` filled in), and the nodes' root's
/// subordinate ids (Proxmox's default block, which `pct start` checks).
pub(super) fn node_shells(dir: &Path, state: &Path, schema: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/standin");
    let (tools, ssh) = (dir.join("node-bin"), dir.join("ssh-bin"));
    for d in [&tools, &ssh, &state.join("root/etc")] {
        std::fs::create_dir_all(d).unwrap();
    }
    for tool in STAND_INS {
        std::os::unix::fs::symlink(src.join("pve-standin.py"), tools.join(tool)).unwrap();
    }
    write_executable(
        &tools.join("apt-get"),
        "#!/bin/sh\necho \"apt-get $* refused in a test\" >&2\nexit 1\n",
    );
    write_executable(
        &ssh.join("ssh"),
        &format!(
            "#!/bin/sh\nexec /usr/bin/python3 -S {} {} {} {} -- \"$@\"\n",
            sh_quote(&src.join("node-ssh.py")),
            sh_quote(state),
            sh_quote(schema),
            sh_quote(&tools)
        ),
    );
    for file in ["subuid", "subgid"] {
        std::fs::write(state.join("root/etc").join(file), "root:100000:65536\n").unwrap();
    }
}
