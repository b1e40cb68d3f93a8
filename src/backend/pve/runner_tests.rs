//! The runner: ssh targets parsed, commands quoted into one ssh argument, scripts
//! under a timeout on the host, hostile values passed as data.

use super::*;

/// What a remote shell makes of the quoted command line: run it through `sh -c`
/// locally and let `printf` show each argument it received.
fn through_a_shell(args: &[&str]) -> Vec<String> {
    let mut cmd = vec!["printf", "%s\\0"];
    cmd.extend_from_slice(args);
    let line: Vec<String> = cmd
        .iter()
        .map(|a| sh_quote(a).unwrap().into_owned())
        .collect();
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

fn target(text: &str) -> SshTarget {
    SshTarget::parse(text).unwrap()
}

#[test]
fn ssh_puts_the_whole_command_in_one_quoted_argument() {
    let cmd = Cmd::new(["pct", "set", "101", "--hostname", "x; reboot"]);
    assert_eq!(
        target("root@pve").argv(None, &cmd).unwrap(),
        [
            "ssh",
            "-o",
            "BatchMode=yes",
            "root@pve",
            "--",
            "pct set 101 --hostname 'x; reboot'"
        ]
    );
    assert_eq!(
        target("ssh://root@pve:2222")
            .argv(Some("/etc/phoenix/ssh config"), &cmd)
            .unwrap(),
        [
            "ssh",
            "-F",
            "/etc/phoenix/ssh config",
            "-o",
            "BatchMode=yes",
            "-p",
            "2222",
            "root@pve",
            "--",
            "pct set 101 --hostname 'x; reboot'"
        ]
    );
    assert_eq!(
        Runner::Local
            .argv(&Cmd::new(["pct", "start", "101"]))
            .unwrap(),
        ["pct", "start", "101"]
    );
}

/// GitHub issue 15: over ssh a script is ended on the host at its timeout
/// (killing the local ssh left it running there).
#[test]
fn a_script_over_ssh_runs_under_timeout_on_the_host() {
    let script = Cmd::new(["env", "A=1", "/bin/sh", "/tmp/s/host/network.sh"]);
    let wrapped = Cmd {
        argv: under_timeout(&script.argv, Duration::from_secs(1800)),
    };
    assert_eq!(
        target("root@pve")
            .argv(None, &wrapped)
            .unwrap()
            .last()
            .unwrap(),
        "timeout -k 10 1800 env A=1 /bin/sh /tmp/s/host/network.sh"
    );
    assert_eq!(
        under_timeout(&script.argv, Duration::from_millis(10))[..4],
        ["timeout", "-k", "10", "1"],
        "never `timeout 0`, which has no deadline"
    );
}

/// GitHub issue 15: a script's output that reads like a lock is the script's.
#[test]
fn a_failing_script_is_never_a_lock_to_retry() {
    let mut log = Log::sink();
    let err = Runner::Local
        .check_script(
            &Cmd::new([
                "sh",
                "-c",
                "echo 'CT 101 is locked (snapshot)' >&2; echo 'database is locked' >&2; exit 1",
            ]),
            Duration::from_secs(10),
            &mut log,
        )
        .unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("database is locked"), "{err}");
    let timed_out = Runner::Local
        .check_script(
            &Cmd::new(["sh", "-c", "exit 124"]),
            Duration::from_secs(10),
            &mut log,
        )
        .unwrap_err();
    assert!(timed_out.message.contains("timed out"), "{timed_out}");
}

#[test]
fn host_forms_parse_into_destination_and_port() {
    let t = |dest: &str, port: Option<u16>| SshTarget {
        destination: dest.into(),
        port,
    };
    assert_eq!(target("root@pve"), t("root@pve", None));
    assert_eq!(target("pve"), t("pve", None));
    assert_eq!(target("root@pve:2222"), t("root@pve", Some(2222)));
    assert_eq!(target("root@10.0.0.5:22"), t("root@10.0.0.5", Some(22)));
    assert_eq!(target("ssh://root@pve"), t("root@pve", None));
    assert_eq!(target("ssh://root@pve:65535/"), t("root@pve", Some(65535)));
    assert_eq!(target("ssh://pve:2222"), t("pve", Some(2222)));
    assert_eq!(target("root@[fd00::1]:2222"), t("root@fd00::1", Some(2222)));
    assert_eq!(target("root@[fd00::1]"), t("root@fd00::1", None));
    assert_eq!(target("root@fd00::1"), t("root@fd00::1", None));
    // ssh splits user and host at the last `@` too.
    assert_eq!(target("me@corp@pve:2"), t("me@corp@pve", Some(2)));
}

#[test]
fn bad_hosts_are_errors_that_say_what_is_wrong() {
    for (text, why) in [
        ("root@pve:notaport", "the port `notaport`"),
        ("root@pve:", "the port ``"),
        ("root@pve:0", "the port `0`"),
        ("root@pve:65536", "the port `65536`"),
        ("root@pve:+22", "the port `+22`"),
        ("ssh://root@pve:x", "the port `x`"),
        ("root@", "the host is empty"),
        (":22", "the host is empty"),
        ("", "the host is empty"),
        ("@pve", "the user is empty"),
        ("-oProxyCommand=sh", "starts with `-`"),
        ("root@-oProxyCommand=sh", "starts with `-`"),
        ("-oProxyCommand=sh@pve", "the user starts with `-`"),
        ("ssh://root@pve/var", "a path"),
        ("root@[fd00::1", "no `]`"),
        ("root@[fd00::1]22", "after `]`"),
    ] {
        let err = SshTarget::parse(text).unwrap_err();
        assert!(err.contains(why), "{text:?}: {err}");
        assert!(err.contains(&format!("`{text}`")), "{err}");
    }
}

#[test]
fn a_nul_byte_fails_before_anything_runs() {
    let runner = Runner::Ssh {
        target: target("root@pve"),
        config: None,
    };
    let mut log = Log::sink();
    let err = runner
        .check(
            &Cmd::new(["pct", "set", "101", "--hostname", "a\0b"]),
            Duration::from_secs(5),
            &mut log,
        )
        .unwrap_err();
    assert!(err.message.contains("nul byte"), "{}", err.message);
}
