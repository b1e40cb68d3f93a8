//! Where pve commands run: on the Proxmox host itself, or on another machine over
//! ssh (`--host root@pve`). Arguments always travel as argv. Over ssh the remote
//! side runs them through a shell, so each argument is single-quoted there: a value
//! like `; rm -rf /` or one with quotes or newlines arrives as one argument, as data.

use std::time::Duration;

use super::super::command::{self, Ran};
use super::super::{Log, OpError};
use super::commands::Cmd;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    Local,
    Ssh(String),
}

/// Quote one argument for a POSIX shell.
pub fn sh_quote(arg: &str) -> String {
    if !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c))
    {
        return arg.to_string();
    }
    format!("'{}'", arg.replace('\'', "'\\''"))
}

impl Runner {
    /// The argv to execute locally for `cmd`.
    pub fn argv(&self, cmd: &Cmd) -> Vec<String> {
        match self {
            Runner::Local => cmd.argv.clone(),
            Runner::Ssh(target) => {
                let remote: Vec<String> = cmd.argv.iter().map(|a| sh_quote(a)).collect();
                vec![
                    "ssh".into(),
                    "-o".into(),
                    "BatchMode=yes".into(),
                    target.clone(),
                    "--".into(),
                    remote.join(" "),
                ]
            }
        }
    }

    pub fn run(
        &self,
        cmd: &Cmd,
        stdin: Option<&[u8]>,
        timeout: Duration,
        log: &mut Log,
    ) -> Result<Ran, OpError> {
        command::run(&self.argv(cmd), stdin, timeout, log)
    }

    /// Run and require exit status 0.
    pub fn check(&self, cmd: &Cmd, timeout: Duration, log: &mut Log) -> Result<Ran, OpError> {
        let argv = self.argv(cmd);
        let ran = command::run(&argv, None, timeout, log)?;
        if ran.status == 0 {
            Ok(ran)
        } else {
            Err(command::failure(&argv, &ran))
        }
    }

    /// Put `bytes` at `path` on the host (a temp file for `pct push`).
    pub fn upload(&self, path: &str, bytes: &[u8], log: &mut Log) -> Result<(), OpError> {
        let cmd = Cmd::new([
            "sh",
            "-c",
            "mkdir -p \"$(dirname \"$1\")\" && cat > \"$1\"",
            "sh",
            path,
        ]);
        let argv = self.argv(&cmd);
        let ran = command::run(&argv, Some(bytes), Duration::from_secs(120), log)?;
        if ran.status == 0 {
            Ok(())
        } else {
            Err(command::failure(&argv, &ran))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a remote shell makes of the quoted command line: run it through `sh -c`
    /// locally and let `printf` show each argument it received.
    fn through_a_shell(args: &[&str]) -> Vec<String> {
        let mut cmd = vec!["printf", "%s\\0"];
        cmd.extend_from_slice(args);
        let line: Vec<String> = cmd.iter().map(|a| sh_quote(a)).collect();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line.join(" "))
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn hostile_values_arrive_as_data() {
        let hostile = [
            "; rm -rf /",
            "$(touch /tmp/phoenix-pwned)",
            "it's \"quoted\"",
            "two\nlines",
            "`id`",
            "a b\tc",
            "--memory",
            "*",
        ];
        assert_eq!(through_a_shell(&hostile), hostile);
        assert!(!std::path::Path::new("/tmp/phoenix-pwned").exists());
    }

    #[test]
    fn ssh_puts_the_whole_command_in_one_quoted_argument() {
        let r = Runner::Ssh("root@pve".into());
        let argv = r.argv(&Cmd::new(["pct", "set", "101", "--hostname", "x; reboot"]));
        assert_eq!(argv[..5], ["ssh", "-o", "BatchMode=yes", "root@pve", "--"]);
        assert_eq!(argv[5], "pct set 101 --hostname 'x; reboot'");
        assert_eq!(
            Runner::Local.argv(&Cmd::new(["pct", "start", "101"])),
            ["pct", "start", "101"]
        );
    }
}
