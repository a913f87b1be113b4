//! The SSH transports against the lab's real sshd hosts. Each behaviour is one
//! test body run for both transports: `ssh2` (in-process libssh2) and `cli`
//! (the system ssh with a private ControlMaster).
//!
//! The client side uses a test-only ssh_config with absolute paths (key,
//! known_hosts) in a temporary directory, passed as `SSH_CONFIG`: the
//! machine's /root/.ssh is never read for keys nor written.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::lab::Lab;
use one_storage::command::Cmd;
use one_storage::error::Error;
use one_storage::transport::{pipe, Hosts, Io, SshSettings, Status, TransportKind};

/// A lab and a client configuration for it.
struct Client {
    lab: Lab,
    dir: tempfile::TempDir,
}

impl Client {
    fn new(hosts: usize) -> Client {
        let lab = Lab::start(hosts);
        let dir = tempfile::tempdir().unwrap();
        let c = Client { lab, dir };
        std::fs::copy(c.lab.fe_ssh_dir().join("known_hosts"), c.known_hosts()).unwrap();
        c.write_config("");
        c
    }

    fn known_hosts(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("ssh_config")
    }

    /// A `Host` block per lab host, after `extra` (first value wins).
    fn write_config(&self, extra: &str) {
        self.write_config_with_key(extra, &self.lab.fe_ssh_dir().join("id_ed25519"));
    }

    fn write_config_with_key(&self, extra: &str, key: &Path) {
        let mut s = format!("{extra}\n");
        for h in self.lab.hosts() {
            s += &format!(
                "Host {}\n  HostName {}\n  Port {}\n  User root\n",
                h.name, h.addr, h.port
            );
        }
        s += &format!(
            "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  UserKnownHostsFile {}\n  \
             GlobalKnownHostsFile /dev/null\n  ConnectTimeout 5\n",
            key.display(),
            self.known_hosts().display()
        );
        std::fs::write(self.config(), s).unwrap();
    }

    fn settings(&self, kind: TransportKind) -> SshSettings {
        SshSettings {
            kind,
            config_file: Some(self.config()),
            ..SshSettings::default()
        }
    }

    fn hosts(&self, kind: TransportKind) -> Hosts {
        Hosts::new(self.settings(kind))
    }

    fn ds(&self, name: &str) -> PathBuf {
        self.lab.ds_root().join(name)
    }
}

/// Runs a test body once per transport.
macro_rules! both_transports {
    ($($body:ident),* $(,)?) => {$(
        mod $body {
            use super::*;
            #[test]
            fn ssh2() {
                super::$body(TransportKind::Ssh2)
            }
            #[test]
            fn cli() {
                super::$body(TransportKind::Cli)
            }
        }
    )*};
}

both_transports!(
    runs_commands_over_one_connection,
    streams_data_both_ways_at_once,
    a_deadline_stops_a_hung_command,
    new_host_keys_are_recorded_and_changed_ones_refused,
    an_unreachable_host_fails_within_the_connect_timeout,
    a_refused_login_says_what_was_tried,
    hosts_of_one_action_are_connected_at_the_same_time,
    a_reader_that_fails_first_is_reported_not_the_writers_broken_pipe,
);

fn runs_commands_over_one_connection(kind: TransportKind) {
    let c = Client::new(1);
    c.lab.reset_counts();
    let mut hosts = c.hosts(kind);
    let h = hosts.get("lab1").unwrap();

    let out = h
        .output(&Cmd::shell("echo out; echo err >&2; exit 3"))
        .unwrap();
    assert_eq!(out.status, Status::Code(3));
    assert_eq!(out.stdout_str(), "out\n");
    assert_eq!(out.stderr_str(), "err\n");

    let nasty = [
        "a b",
        "it's",
        "\"dq\"",
        "$(touch /tmp/pwned)",
        "`id`",
        "x;y|z&",
        "new\nline",
        "tab\there",
        "*",
        "-n",
        "",
        "\\back",
    ];
    let out = h.run(&Cmd::new("printf").arg("%s\\0").args(nasty)).unwrap();
    let got: Vec<&str> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .split_terminator('\0')
        .collect();
    assert_eq!(got, nasty);

    // The remote environment: C locale, sbin in PATH, the command's cwd.
    let out = h
        .run(&Cmd::shell("echo \"$LANG $LC_ALL\"; echo \"$PATH\"; pwd").cwd("/tmp"))
        .unwrap();
    let text = out.stdout_str();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "C C");
    assert!(lines[1].starts_with("/usr/sbin:/sbin:"), "{text}");
    assert_eq!(lines[2], "/tmp");

    // 255 from the command is the command's, not a connection failure.
    let out = h.output(&Cmd::shell("exit 255")).unwrap();
    assert_eq!(out.status, Status::Code(255));
    // The system client reports a remote signal as 255; libssh2 names it.
    let out = h.output(&Cmd::shell("kill -TERM $$")).unwrap();
    let killed = match kind {
        TransportKind::Ssh2 => Status::Signal("SIGTERM".to_string()),
        TransportKind::Cli => Status::Code(255),
    };
    assert_eq!(out.status, killed);

    let e = h.run(&Cmd::new("ls").arg("/nonexistent dir")).unwrap_err();
    let f = e.command_failure().unwrap();
    assert_eq!(f.host.as_deref(), Some("lab1"));
    assert!(f.stderr.contains("No such file"), "{}", f.stderr);

    drop(hosts);
    assert_eq!(
        c.lab.ssh_connections("lab1"),
        1,
        "{}",
        c.lab.sshd_log("lab1")
    );
    assert_eq!(c.lab.ssh_commands("lab1"), 6, "{}", c.lab.sshd_log("lab1"));
}

/// Deterministic data that does not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

fn streams_data_both_ways_at_once(kind: TransportKind) {
    let c = Client::new(1);
    let mut hosts = c.hosts(kind);
    let h = hosts.get("lab1").unwrap();
    let data = noise(64 << 20);

    // `cat` writes while it is still being fed: no deadlock, nothing lost.
    let mut input: &[u8] = &data;
    let mut echoed: Vec<u8> = Vec::with_capacity(data.len());
    h.run_io(
        &Cmd::new("cat"),
        Io {
            stdin: Some((&mut input).into()),
            stdout: Some((&mut echoed).into()),
        },
    )
    .unwrap();
    assert!(
        echoed == data,
        "cat returned {} bytes, not the same",
        echoed.len()
    );

    // Into a file on the host, then back out (smaller: the path is the same).
    let data = &data[..8 << 20];
    let blob = c.ds("blob");
    let mut input: &[u8] = data;
    h.run_io(
        &Cmd::shell("cat > \"$1\"")
            .arg("sh")
            .arg(blob.to_str().unwrap()),
        Io {
            stdin: Some((&mut input).into()),
            stdout: None,
        },
    )
    .unwrap();
    let on_host = std::fs::read(c.lab.host_path("lab1", &blob)).unwrap();
    assert!(
        on_host == data,
        "the file on lab1 differs ({} bytes)",
        on_host.len()
    );
    let sum = h
        .run_stdout(&Cmd::new("md5sum").arg(blob.to_str().unwrap()))
        .unwrap();
    assert!(sum.starts_with(&md5_hex(data)), "{sum}");

    let mut back: Vec<u8> = Vec::new();
    h.run_io(
        &Cmd::new("cat").arg(blob.to_str().unwrap()),
        Io {
            stdin: None,
            stdout: Some((&mut back).into()),
        },
    )
    .unwrap();
    assert!(back == data, "read back {} bytes, not the same", back.len());

    // A command that closes its outputs first still gets all its input.
    let closed = c.ds("closed-outputs");
    let mut input: &[u8] = data;
    h.run_io(
        &Cmd::shell("exec >&- 2>&-; cat > \"$1\"")
            .arg("sh")
            .arg(closed.to_str().unwrap()),
        Io {
            stdin: Some((&mut input).into()),
            stdout: None,
        },
    )
    .unwrap();
    let len = std::fs::metadata(c.lab.host_path("lab1", &closed))
        .unwrap()
        .len();
    assert_eq!(len, data.len() as u64);

    // A command that stops reading early ends cleanly with its own status.
    let mut input: &[u8] = data;
    let out = h
        .output_io(&Cmd::shell("head -c 10 >/dev/null; exit 4"), &mut input)
        .unwrap();
    assert_eq!(out.status, Status::Code(4));
    // The connection is still good afterwards.
    assert_eq!(h.run_stdout(&Cmd::new("echo").arg("ok")).unwrap(), "ok");
}

/// `output` with stdin attached, whatever the exit status.
trait OutputIo {
    fn output_io(
        &mut self,
        cmd: &Cmd,
        input: &mut &[u8],
    ) -> one_storage::error::Result<one_storage::transport::Output>;
}

impl OutputIo for one_storage::transport::Host {
    fn output_io(
        &mut self,
        cmd: &Cmd,
        input: &mut &[u8],
    ) -> one_storage::error::Result<one_storage::transport::Output> {
        match self.run_io(
            cmd,
            Io {
                stdin: Some(input.into()),
                stdout: None,
            },
        ) {
            Ok(o) => Ok(o),
            Err(Error::Command(f)) => Ok(one_storage::transport::Output {
                status: parse_status(&f.status),
                stdout: Vec::new(),
                stderr: f.stderr.into_bytes(),
            }),
            Err(e) => Err(e),
        }
    }
}

fn parse_status(s: &str) -> Status {
    match s.strip_prefix("exit code ") {
        Some(n) => Status::Code(n.parse().unwrap()),
        None => Status::Signal(s.to_string()),
    }
}

/// Whether a process whose command line contains `marker` runs on the machine
/// (the lab's hosts share its process table).
fn process_running(marker: &str) -> bool {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| {
            String::from_utf8_lossy(&cmdline).contains(marker)
                && !String::from_utf8_lossy(&cmdline).contains("ssh_transport")
        })
}

fn a_deadline_stops_a_hung_command(kind: TransportKind) {
    let c = Client::new(1);
    let mut hosts = c.hosts(kind);
    let h = hosts.get("lab1").unwrap();
    let marker = format!("hung-{}-{kind:?}", std::process::id());
    let start = Instant::now();
    let out = h
        .output(
            &Cmd::shell("sleep 30; : \"$0\"")
                .arg(&marker)
                .timeout(Duration::from_millis(1500)),
        )
        .unwrap();
    let took = start.elapsed();
    eprintln!("{kind:?}: timed out after {took:?}");
    assert_eq!(out.status, Status::TimedOut(Duration::from_millis(1500)));
    assert!(took < Duration::from_secs(6), "took {took:?}");
    // The host is still usable after a timeout.
    assert_eq!(h.run_stdout(&Cmd::new("echo").arg("ok")).unwrap(), "ok");
    // The host's own deadline kills the command soon after ours.
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        !process_running(&marker)
    });
    assert!(gone, "the timed-out command still runs on the host");
}

fn lab_key_line(c: &Client, host: &str) -> String {
    let text = std::fs::read_to_string(c.lab.fe_ssh_dir().join("known_hosts")).unwrap();
    let addr = format!("[{}]:{}", c.lab.host(host).addr, c.lab.host(host).port);
    let line = text.lines().find(|l| l.contains(&addr)).unwrap();
    line.split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fresh ed25519 public key, `type base64`.
fn other_key(dir: &Path) -> String {
    let f = dir.join("other_key");
    common::cmd::run_ok(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&f),
    );
    let text = std::fs::read_to_string(f.with_extension("pub")).unwrap();
    text.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn new_host_keys_are_recorded_and_changed_ones_refused(kind: TransportKind) {
    let c = Client::new(1);
    let h = c.lab.host("lab1");
    let name = format!("[{}]:{}", h.addr, h.port);
    let key = lab_key_line(&c, "lab1");

    // Unknown with accept-new (the default): recorded, as `[addr]:port type key`.
    std::fs::remove_file(c.known_hosts()).unwrap();
    let mut hosts = c.hosts(kind);
    hosts.get("lab1").unwrap().run(&Cmd::new("true")).unwrap();
    drop(hosts);
    let text = std::fs::read_to_string(c.known_hosts()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with(&name) && l.contains(&key)),
        "{text}"
    );

    // Unknown with StrictHostKeyChecking yes: refused, nothing written.
    std::fs::remove_file(c.known_hosts()).unwrap();
    let strict = SshSettings {
        strict_host_key_checking: one_storage::transport::sshconfig::Strict::Yes,
        ..c.settings(kind)
    };
    let e = Hosts::new(strict).get("lab1").err().unwrap();
    eprintln!("{kind:?}: {e}");
    assert!(matches!(e, Error::Ssh(_)), "{e:?}");
    assert!(
        !c.known_hosts().exists() || std::fs::read_to_string(c.known_hosts()).unwrap().is_empty()
    );

    // Changed: another key recorded for the host is refused, with the fix.
    let wrong = other_key(c.dir.path());
    std::fs::write(c.known_hosts(), format!("{name} {wrong}\n")).unwrap();
    let e = c.hosts(kind).get("lab1").err().unwrap();
    let msg = e.to_string();
    eprintln!("{kind:?}: {msg}");
    assert!(matches!(e, Error::Ssh(_)), "{e:?}");
    assert!(msg.contains("lab1"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    match kind {
        TransportKind::Ssh2 => {
            assert!(msg.contains("CHANGED"), "{msg}");
            assert!(msg.contains("ssh-keygen -R"), "{msg}");
            assert!(
                msg.contains(&c.known_hosts().display().to_string()),
                "{msg}"
            );
        }
        TransportKind::Cli => assert!(msg.contains("Host key verification failed"), "{msg}"),
    }
    // Still refused after the error: the stale key was not replaced behind our back.
    let text = std::fs::read_to_string(c.known_hosts()).unwrap();
    assert_eq!(text, format!("{name} {wrong}\n"));
}

fn an_unreachable_host_fails_within_the_connect_timeout(kind: TransportKind) {
    let c = Client::new(1);
    let closed = std::net::TcpListener::bind("127.0.0.99:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    c.write_config(&format!(
        "Host dead\n  HostName 127.0.0.99\n  Port {port}\n  ConnectTimeout 2\n"
    ));
    let start = Instant::now();
    let e = c.hosts(kind).get("dead").err().unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    let msg = e.to_string();
    assert!(matches!(e, Error::Ssh(_)), "{e:?}");
    assert!(msg.contains("dead"), "{msg}");
    assert!(msg.contains("Connection refused"), "{msg}");
}

fn hosts_of_one_action_are_connected_at_the_same_time(kind: TransportKind) {
    let c = Client::new(2);
    // Two hosts that accept TCP and never speak SSH: each login gives up
    // after ConnectTimeout (2 s); one after the other would take 4 s.
    let silent: Vec<_> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let mut extra = String::new();
    for (i, l) in silent.iter().enumerate() {
        let port = l.local_addr().unwrap().port();
        extra +=
            &format!("Host silent{i}\n  HostName 127.0.0.1\n  Port {port}\n  ConnectTimeout 2\n");
    }
    c.write_config(&extra);
    let mut hosts = c.hosts(kind);
    let start = Instant::now();
    let e = hosts
        .connect_all(&[Some("silent0"), None, Some("silent1")])
        .unwrap_err();
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(
        took < Duration::from_millis(3800),
        "not in parallel: {took:?}"
    );
    assert!(
        e.to_string().contains("silent0"),
        "the first host's error: {e}"
    );

    c.lab.reset_counts();
    hosts
        .connect_all(&[Some("lab1"), Some("lab2"), Some("lab1")])
        .unwrap();
    let (a, b) = hosts.pair(Some("lab2"), Some("lab1")).unwrap();
    assert_eq!(a.run_stdout(&Cmd::new("echo").arg("a")).unwrap(), "a");
    assert_eq!(b.run_stdout(&Cmd::new("echo").arg("b")).unwrap(), "b");
    assert_eq!(c.lab.ssh_connections("lab1"), 1);
    assert_eq!(c.lab.ssh_connections("lab2"), 1);
}

fn a_reader_that_fails_first_is_reported_not_the_writers_broken_pipe(kind: TransportKind) {
    let c = Client::new(1);
    let mut hosts = c.hosts(kind);
    let (fe, lab1) = hosts.pair(None, Some("lab1")).unwrap();
    let endless = Cmd::new("cat").arg("/dev/zero");
    let refuses = Cmd::shell(
        "head -c 100000 >/dev/null; echo 'tar: /ds/0/7/.disk.0.part: Cannot open' >&2; exit 2",
    );
    // Front-end to host, and host to front-end.
    let e = pipe(fe, &endless, lab1, &refuses).unwrap_err();
    let f = e.command_failure().expect("the reader's failure");
    assert_eq!(f.host.as_deref(), Some("lab1"), "{e}");
    assert!(f.stderr.contains("Cannot open"), "{e}");
    let (fe, lab1) = hosts.pair(None, Some("lab1")).unwrap();
    let e = pipe(lab1, &endless, fe, &refuses).unwrap_err();
    let f = e.command_failure().expect("the reader's failure");
    assert_eq!(f.host, None, "{e} / {:?}", f.stderr);
    assert!(f.stderr.contains("Cannot open"), "{e}");
    // The connection is still good afterwards.
    let (_, lab1) = hosts.pair(None, Some("lab1")).unwrap();
    assert_eq!(lab1.run_stdout(&Cmd::new("echo").arg("ok")).unwrap(), "ok");
}

fn a_refused_login_says_what_was_tried(kind: TransportKind) {
    let c = Client::new(1);
    other_key(c.dir.path());
    let stranger = c.dir.path().join("other_key");
    c.write_config_with_key("", &stranger);
    let e = c.hosts(kind).get("lab1").err().unwrap();
    let msg = e.to_string();
    eprintln!("{kind:?}: {msg}");
    assert!(matches!(e, Error::Ssh(_)), "{e:?}");
    assert!(msg.contains("lab1"), "{msg}");
    match kind {
        TransportKind::Ssh2 => {
            assert!(msg.contains("cannot log in to lab1"), "{msg}");
            assert!(msg.contains(&stranger.display().to_string()), "{msg}");
        }
        TransportKind::Cli => assert!(msg.contains("Permission denied"), "{msg}"),
    }
}

#[test]
fn ssh2_refuses_proxy_jump_with_the_fix() {
    let c = Client::new(1);
    c.write_config("Host lab1\n  ProxyJump lab2\n");
    let e = c.hosts(TransportKind::Ssh2).get("lab1").err().unwrap();
    let msg = e.to_string();
    assert!(matches!(e, Error::Ssh(_)), "{e:?}");
    assert!(
        msg.contains("lab1 uses ProxyJump lab2 in ssh_config"),
        "{msg}"
    );
    assert!(msg.contains("SSH_TRANSPORT=ssh"), "{msg}");
    assert_eq!(c.lab.ssh_connections("lab1"), 0);
}

#[test]
fn cli_honours_proxy_jump() {
    let c = Client::new(2);
    c.write_config("Host lab1\n  ProxyJump lab2\n");
    c.lab.reset_counts();
    let mut hosts = c.hosts(TransportKind::Cli);
    let h = hosts.get("lab1").unwrap();
    let f = c.ds("via-lab2");
    h.run(&Cmd::new("touch").arg(f.to_str().unwrap())).unwrap();
    h.run(&Cmd::new("true")).unwrap();
    drop(hosts);
    assert!(c.lab.host_path("lab1", &f).exists());
    assert_eq!(c.lab.ssh_connections("lab1"), 1);
    assert_eq!(c.lab.ssh_connections("lab2"), 1);
}

/// ssh processes whose command line names `path`.
fn ssh_processes_using(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| {
            let argv0 = c.split(' ').next().unwrap_or("");
            Path::new(argv0).file_name() == Some("ssh".as_ref()) && c.contains(&needle)
        })
        .collect()
}

#[test]
fn cli_leaves_no_ssh_process_behind() {
    let c = Client::new(1);
    let s = c.settings(TransportKind::Cli);
    let mut cli = one_storage::transport::sshcli::SshCli::connect("lab1", &s).unwrap();
    let ctl = cli.control_path();
    let dir = ctl.parent().unwrap().to_path_buf();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{} is not private", dir.display());
    use one_storage::transport::Transport;
    cli.exec(&Cmd::new("true"), Io::default()).unwrap();
    assert!(
        !ssh_processes_using(&dir).is_empty(),
        "no master found for {}",
        ctl.display()
    );
    drop(cli);
    assert_eq!(ssh_processes_using(&dir), Vec::<String>::new());
    assert!(!dir.exists(), "{} is left behind", dir.display());
}

/// Run by `logs_in_with_the_agent` in a child process, with the agent's
/// socket in its environment: connects with the transport named in
/// OST_TEST_KIND and runs `true`.
#[test]
#[ignore = "helper run in a child process"]
fn helper_run_true() {
    let Ok(config) = std::env::var("OST_TEST_SSH_CONFIG") else {
        return;
    };
    let kind = TransportKind::parse(&std::env::var("OST_TEST_KIND").unwrap()).unwrap();
    let s = SshSettings {
        kind,
        config_file: Some(PathBuf::from(config)),
        ..SshSettings::default()
    };
    Hosts::new(s)
        .get("lab1")
        .unwrap()
        .run(&Cmd::new("true"))
        .unwrap();
    println!("LOGGED IN");
}

#[test]
fn logs_in_with_the_agent() {
    let c = Client::new(1);
    // No usable identity file: only the agent holds the key.
    c.write_config_with_key("Host *\n  IdentitiesOnly no\n", &c.dir.path().join("none"));
    let sock = c.dir.path().join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        sock.exists()
    });
    assert!(ready, "ssh-agent did not create {}", sock.display());
    common::cmd::run_ok(
        std::process::Command::new("ssh-add")
            .arg("-q")
            .arg(c.lab.fe_ssh_dir().join("id_ed25519"))
            .env("SSH_AUTH_SOCK", &sock),
    );
    for kind in ["ssh2", "ssh"] {
        let out = common::cmd::run_ok(
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--ignored", "--exact", "helper_run_true", "--nocapture"])
                .env("OST_TEST_SSH_CONFIG", c.config())
                .env("OST_TEST_KIND", kind)
                .env("SSH_AUTH_SOCK", &sock),
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("LOGGED IN"),
            "{kind}: {}",
            common::cmd::outcome(&out)
        );
    }
    agent.kill().unwrap();
    agent.wait().unwrap();
}

/// Run by `cli_master_dies_with_a_killed_action` in a child process: connects,
/// prints the control path, then waits to be killed.
#[test]
#[ignore = "helper run in a child process"]
fn helper_connect_and_wait() {
    let Ok(config) = std::env::var("OST_TEST_SSH_CONFIG") else {
        return;
    };
    let s = SshSettings {
        kind: TransportKind::Cli,
        config_file: Some(PathBuf::from(config)),
        ..SshSettings::default()
    };
    // From a thread that ends at once, like a scoped worker in an action.
    let cli = std::thread::spawn(move || {
        one_storage::transport::sshcli::SshCli::connect("lab1", &s).unwrap()
    })
    .join()
    .unwrap();
    println!("CTL {}", cli.control_path().display());
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn cli_master_dies_with_a_killed_action() {
    use std::io::BufRead;
    let c = Client::new(1);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "helper_connect_and_wait",
            "--nocapture",
        ])
        .env("OST_TEST_SSH_CONFIG", c.config())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let ctl = out
        .lines()
        .map_while(|l| l.ok())
        .find_map(|l| l.strip_prefix("CTL ").map(PathBuf::from))
        .expect("the helper printed its control path");
    // The helper is killed: its control directory is ours to remove.
    let dir = RemoveOnDrop(ctl.parent().unwrap().to_path_buf());
    let dir = &dir.0;
    // Give the helper's thread time to end: the master must survive that.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !ssh_processes_using(dir).is_empty(),
        "the master died with its thread"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let gone = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        ssh_processes_using(dir).is_empty()
    });
    assert!(gone, "left behind: {:?}", ssh_processes_using(dir));
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
