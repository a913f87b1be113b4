//! Where commands run: the front-end itself, or a host over SSH.
//!
//! An action builds [`Cmd`] values and hands them to a [`Host`]; SSH wraps a
//! command, it is not a second code path. A [`Hosts`] pool keeps one
//! connection per host for the whole action.

pub mod knownhosts;
pub mod local;
pub mod ssh2;
pub mod sshcli;
pub mod sshconfig;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

use crate::command::Cmd;
use crate::error::{describe_status, CommandFailure, Error, Result};

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Code(i32),
    Signal(String),
    TimedOut(Duration),
}

impl Status {
    pub fn success(&self) -> bool {
        *self == Status::Code(0)
    }

    pub fn from_exit(st: &std::process::ExitStatus) -> Status {
        use std::os::unix::process::ExitStatusExt;
        match (st.code(), st.signal()) {
            (Some(c), _) => Status::Code(c),
            (None, Some(sig)) => Status::Signal(crate::error::signal_name(sig).to_string()),
            (None, None) => Status::Signal(describe_status(st)),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Status::Code(c) => format!("exit code {c}"),
            Status::Signal(s) => format!("killed by {s}"),
            Status::TimedOut(d) => format!("timed out after {} s", d.as_secs()),
        }
    }
}

/// What a command printed and how it ended. `stdout` is empty when it was
/// streamed to a writer.
#[derive(Debug, Clone)]
pub struct Output {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Streams for one command: `stdin` is fed to the command and closed;
/// `stdout`, when given, receives the command's output instead of capturing it.
#[derive(Default)]
pub struct Io<'a> {
    pub stdin: Option<Input<'a>>,
    pub stdout: Option<Sink<'a>>,
}

/// Where a command's input comes from.
pub enum Input<'a> {
    /// Read by this process and written to the command.
    Reader(&'a mut (dyn Read + Send)),
    /// A pipe: a local process (a command on the front-end, the system ssh
    /// client) gets it as its stdin, so the data never passes through this
    /// process; other transports read it.
    Pipe(std::io::PipeReader),
}

/// Where a command's output goes.
pub enum Sink<'a> {
    /// Read by this process and written here.
    Writer(&'a mut (dyn Write + Send)),
    /// A pipe a local process gets as its stdout (see [`Input::Pipe`]).
    Pipe(std::io::PipeWriter),
}

impl<'a, R: Read + Send> From<&'a mut R> for Input<'a> {
    fn from(r: &'a mut R) -> Input<'a> {
        Input::Reader(r)
    }
}

impl<'a, W: Write + Send> From<&'a mut W> for Sink<'a> {
    fn from(w: &'a mut W) -> Sink<'a> {
        Sink::Writer(w)
    }
}

impl Input<'_> {
    /// The input as a reader, for transports that copy it themselves.
    pub fn reader(&mut self) -> &mut (dyn Read + Send) {
        match self {
            Input::Reader(r) => *r,
            Input::Pipe(p) => p,
        }
    }
}

impl Sink<'_> {
    /// The output as a writer, for transports that copy it themselves.
    pub fn writer(&mut self) -> &mut (dyn Write + Send) {
        match self {
            Sink::Writer(w) => *w,
            Sink::Pipe(p) => p,
        }
    }
}

/// A way to run commands somewhere. Implementations: [`local::Local`],
/// [`ssh2::Ssh2`] (in-process libssh2) and [`sshcli::SshCli`] (the system
/// `ssh` with a private ControlMaster).
pub trait Transport: Send {
    /// Runs `cmd` to completion (or its deadline) and reports how it ended.
    /// Failing to start or to reach the host is an `Err`; a non-zero exit is not.
    fn exec(&mut self, cmd: &Cmd, io: Io<'_>) -> Result<Output>;
}

/// Seconds the host's own deadline leaves after ours: our deadline fires
/// first and reports the timeout; the host's only makes sure the command dies.
const HOST_DEADLINE_GRACE: u64 = 1;

/// The line an SSH transport runs for `cmd` on a host: the command under
/// `timeout -s KILL`, so that a command we gave up on does not run on after
/// the connection closed (`timeout` kills its whole process group, pipelines
/// included). Without a working directory no shell stands between `timeout`
/// and the program, so a signal that kills it is reported as such.
pub fn remote_line(cmd: &Cmd, deadline: Duration) -> String {
    let secs = deadline.as_secs() + u64::from(deadline.subsec_nanos() > 0) + HOST_DEADLINE_GRACE;
    let mut line = crate::tools::TIMEOUT
        .cmd()
        .args(["-s", "KILL", &secs.to_string()]);
    if cmd.get_cwd().is_some() {
        // `cd` needs a shell.
        line = line.args(["sh", "-c"]).arg(cmd.shell_line());
    } else {
        if !cmd.get_env().is_empty() {
            let vars = cmd.get_env().iter().map(|(k, v)| format!("{k}={v}"));
            line = line.arg(crate::tools::ENV.name).args(vars);
        }
        line = line.arg(cmd.program()).args(cmd.get_args().iter().cloned());
    }
    line.remote_line()
}

/// A place to run commands, with its name for messages.
pub struct Host {
    name: Option<String>,
    transport: Box<dyn Transport>,
}

impl Host {
    pub fn local() -> Host {
        Host {
            name: None,
            transport: Box::new(local::Local::default()),
        }
    }

    pub fn new(name: Option<String>, transport: Box<dyn Transport>) -> Host {
        Host { name, transport }
    }

    /// `None` for the front-end.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The host name for messages: `lab1`, or `the front-end`.
    pub fn label(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| "the front-end".to_string())
    }

    pub fn is_local(&self) -> bool {
        self.name.is_none()
    }

    /// Runs and returns the output whatever the exit status.
    pub fn output(&mut self, cmd: &Cmd) -> Result<Output> {
        log::debug!("{}: {}", self.label(), cmd);
        self.transport.exec(cmd, Io::default())
    }

    /// Runs and fails with the command's evidence unless it exits 0.
    pub fn run(&mut self, cmd: &Cmd) -> Result<Output> {
        let out = self.output(cmd)?;
        self.check(cmd, out)
    }

    /// Runs and returns stdout (trimmed of the final newline).
    pub fn run_stdout(&mut self, cmd: &Cmd) -> Result<String> {
        let out = self.run(cmd)?;
        let mut s = out.stdout_str();
        if s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// Runs with streams attached (data into or out of the command).
    pub fn run_io(&mut self, cmd: &Cmd, io: Io<'_>) -> Result<Output> {
        log::debug!("{}: {}", self.label(), cmd);
        let out = self.transport.exec(cmd, io)?;
        self.check(cmd, out)
    }

    fn check(&self, cmd: &Cmd, out: Output) -> Result<Output> {
        if out.status.success() {
            return Ok(out);
        }
        Err(self.failure(cmd, &out).into())
    }

    /// The evidence of a failed command on this host.
    pub fn failure(&self, cmd: &Cmd, out: &Output) -> CommandFailure {
        CommandFailure {
            command: cmd.shell_line(),
            host: self.name.clone(),
            status: out.status.describe(),
            stderr: tail(&out.stderr_str(), 8, 2000),
        }
    }
}

/// Streams `from_cmd`'s stdout on `from` into `to_cmd`'s stdin on `to`, and
/// fails unless both ends succeed (the far end of a pipe counts too). When
/// the producer fails, the consumer's error is secondary and the producer's
/// is reported. The two ends share one pipe: a process on the front-end
/// (tar, the system ssh client) holds its end directly, so the bytes cross
/// this process only where an in-process transport must encrypt them.
pub fn pipe(from: &mut Host, from_cmd: &Cmd, to: &mut Host, to_cmd: &Cmd) -> Result<()> {
    let (r, w) = std::io::pipe().map_err(|e| Error::io("creating a pipe", e))?;
    local::widen_pipe(&w);
    std::thread::scope(|s| {
        let producer = s.spawn(move || {
            from.run_io(
                from_cmd,
                Io {
                    stdin: None,
                    stdout: Some(Sink::Pipe(w)),
                },
            )
        });
        let consumed = to.run_io(
            to_cmd,
            Io {
                stdin: Some(Input::Pipe(r)),
                stdout: None,
            },
        );
        let produced = producer.join().expect("producer thread");
        match (produced, consumed) {
            // The reader failed first (a full disk, a refused path): the
            // writer's broken pipe is its consequence, not the cause.
            (Err(p), Err(c)) if broken_pipe(&p) => Err(c),
            (Err(p), _) => Err(p),
            (Ok(_), c) => c.map(drop),
        }
    })
}

/// A writer that failed only because its reader went away: a command
/// killed by SIGPIPE (on a host, under `timeout`, exit code 141) or saying
/// EPIPE itself, as GNU tar does; or this process relaying a host's output
/// into the closed pipe.
fn broken_pipe(e: &Error) -> bool {
    if let Error::Io { source, .. } = e {
        return source.kind() == std::io::ErrorKind::BrokenPipe;
    }
    e.command_failure().is_some_and(|f| {
        f.status == Status::Signal("SIGPIPE".to_string()).describe()
            || f.status == Status::Code(128 + libc::SIGPIPE).describe()
            || f.stderr.contains("Broken pipe")
    })
}

/// The last `lines` lines of `s`, at most `max` bytes: enough for the cause,
/// short enough for oned's stderr buffer.
pub fn tail(s: &str, lines: usize, max: usize) -> String {
    let all: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = all.len().saturating_sub(lines);
    let mut t = all[start..].join("\n");
    if t.len() > max {
        let mut cut = t.len() - max;
        while !t.is_char_boundary(cut) {
            cut += 1;
        }
        t = format!("...{}", &t[cut..]);
    }
    t
}

/// Which SSH implementation connects to hosts (`SSH_TRANSPORT` in the conf).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// In-process libssh2: fastest start, honours the common ssh_config keys.
    Ssh2,
    /// The system `ssh` with a private ControlMaster: the operator's whole set-up.
    Cli,
}

impl TransportKind {
    pub fn parse(s: &str) -> Result<TransportKind> {
        match s.trim().to_ascii_lowercase().as_str() {
            "" | "ssh2" | "libssh2" => Ok(TransportKind::Ssh2),
            "ssh" | "cli" | "openssh" => Ok(TransportKind::Cli),
            other => Err(Error::Config(format!(
                "SSH_TRANSPORT={other} is not known: use ssh2 (in-process) or ssh (the system ssh client)"
            ))),
        }
    }
}

/// Settings every SSH transport takes from the driver configuration.
#[derive(Debug, Clone)]
pub struct SshSettings {
    pub kind: TransportKind,
    /// An ssh_config file used instead of `~/.ssh/config` (SSH_CONFIG).
    pub config_file: Option<std::path::PathBuf>,
    pub connect_timeout: Duration,
    pub keepalive: Duration,
    /// Deadline for one remote command.
    pub command_timeout: Duration,
    /// Host keys policy when ssh_config sets no StrictHostKeyChecking
    /// (SSH_STRICT_HOST_KEY_CHECKING).
    pub strict_host_key_checking: sshconfig::Strict,
    /// The driver configuration file these settings came from, for messages.
    pub driver_conf: Option<std::path::PathBuf>,
}

impl SshSettings {
    /// Reads `SSH_TRANSPORT`, `SSH_CONFIG`, `SSH_CONNECT_TIMEOUT`,
    /// `SSH_KEEPALIVE`, `COMMAND_TIMEOUT` (seconds) and
    /// `SSH_STRICT_HOST_KEY_CHECKING` from a driver's config. The ssh_config
    /// values for a host, when it sets them, win over these defaults.
    pub fn from_config(c: &crate::config::Config) -> Result<SshSettings> {
        let d = SshSettings::default();
        let strict = match c.get("SSH_STRICT_HOST_KEY_CHECKING") {
            None => d.strict_host_key_checking,
            Some(v) => sshconfig::Strict::parse(v).ok_or_else(|| {
                c.invalid("SSH_STRICT_HOST_KEY_CHECKING", "yes, accept-new or no")
            })?,
        };
        Ok(SshSettings {
            kind: TransportKind::parse(c.get_or("SSH_TRANSPORT", "ssh2"))?,
            config_file: c.get("SSH_CONFIG").map(std::path::PathBuf::from),
            connect_timeout: c.seconds("SSH_CONNECT_TIMEOUT", d.connect_timeout.as_secs())?,
            keepalive: c.seconds("SSH_KEEPALIVE", d.keepalive.as_secs())?,
            command_timeout: c.seconds("COMMAND_TIMEOUT", d.command_timeout.as_secs())?,
            strict_host_key_checking: strict,
            driver_conf: c.files().last().cloned(),
        })
    }
}

impl Default for SshSettings {
    fn default() -> SshSettings {
        SshSettings {
            kind: TransportKind::Ssh2,
            config_file: None,
            connect_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(10),
            command_timeout: Duration::from_secs(3600),
            strict_host_key_checking: sshconfig::Strict::AcceptNew,
            driver_conf: None,
        }
    }
}

/// One connection per host for the lifetime of an action.
pub struct Hosts {
    settings: SshSettings,
    hosts: HashMap<String, Host>,
    local: Host,
}

impl Hosts {
    pub fn new(settings: SshSettings) -> Hosts {
        Hosts {
            settings,
            hosts: HashMap::new(),
            local: Host::local(),
        }
    }

    pub fn settings(&self) -> &SshSettings {
        &self.settings
    }

    pub fn local(&mut self) -> &mut Host {
        &mut self.local
    }

    /// The host `name`, connecting on first use. Names that look like options
    /// are refused before any ssh code sees them.
    pub fn get(&mut self, name: &str) -> Result<&mut Host> {
        check_host_name(name)?;
        if !self.hosts.contains_key(name) {
            let t = connect(name, &self.settings)?;
            self.hosts
                .insert(name.to_string(), Host::new(Some(name.to_string()), t));
        }
        Ok(self.hosts.get_mut(name).expect("inserted above"))
    }

    /// Connects to every host of `names` not connected yet, at the same time:
    /// an action that will touch two hosts waits for one handshake, not two.
    /// The first failure in the order of `names` is reported.
    pub fn connect_all(&mut self, names: &[Option<&str>]) -> Result<()> {
        let mut todo: Vec<&str> = Vec::new();
        for n in names.iter().flatten() {
            check_host_name(n)?;
            if !self.hosts.contains_key(*n) && !todo.contains(n) {
                todo.push(n);
            }
        }
        if todo.len() < 2 {
            return todo.into_iter().try_for_each(|n| self.get(n).map(drop));
        }
        let settings = &self.settings;
        let connected: Vec<Result<Box<dyn Transport>>> = std::thread::scope(|s| {
            let started: Vec<_> = todo
                .iter()
                .map(|n| s.spawn(move || connect(n, settings)))
                .collect();
            started
                .into_iter()
                .map(|t| t.join().expect("connecting thread"))
                .collect()
        });
        let mut first_error = None;
        for (n, t) in todo.into_iter().zip(connected) {
            match t {
                Ok(t) => {
                    self.hosts
                        .insert(n.to_string(), Host::new(Some(n.to_string()), t));
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Two different hosts at once (front-end = `None`), e.g. both ends of a
    /// copy. Both names must differ.
    pub fn pair(&mut self, a: Option<&str>, b: Option<&str>) -> Result<(&mut Host, &mut Host)> {
        if a == b {
            return Err(Error::Input(format!(
                "a copy needs two different hosts, got {} twice",
                a.unwrap_or("the front-end")
            )));
        }
        self.connect_all(&[a, b])?;
        let Hosts { hosts, local, .. } = self;
        let pair = match (a, b) {
            (None, Some(n)) => hosts.get_mut(n).map(|h| (local, h)),
            (Some(n), None) => hosts.get_mut(n).map(|h| (h, local)),
            (Some(x), Some(y)) => match hosts.get_disjoint_mut([x, y]) {
                [Some(p), Some(q)] => Some((p, q)),
                _ => None,
            },
            (None, None) => None,
        };
        Ok(pair.expect("both hosts connected above and different"))
    }

    /// The front-end when `name` is `None`, else the remote host.
    pub fn at(&mut self, name: Option<&str>) -> Result<&mut Host> {
        match name {
            None => Ok(&mut self.local),
            Some(n) => self.get(n),
        }
    }
}

/// A new connection to `name` with the configured transport.
fn connect(name: &str, settings: &SshSettings) -> Result<Box<dyn Transport>> {
    Ok(match settings.kind {
        TransportKind::Ssh2 => Box::new(ssh2::Ssh2::connect(name, settings)?),
        TransportKind::Cli => Box::new(sshcli::SshCli::connect(name, settings)?),
    })
}

/// Refuses host names ssh would read as options or that cannot be host names.
pub fn check_host_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('-')
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "'\"`$;&|<>\\/".contains(c));
    if bad {
        return Err(Error::Input(format!(
            "'{name}' is not a valid host name: check the host in the arguments or BRIDGE_LIST"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_that_look_like_options_are_refused() {
        assert!(check_host_name("-oProxyCommand=touch /tmp/x").is_err());
        assert!(check_host_name("").is_err());
        assert!(check_host_name("a b").is_err());
        assert!(check_host_name("lab1").is_ok());
        assert!(check_host_name("oneadmin@node-1.example").is_ok());
        assert!(check_host_name("fd00::1").is_ok());
    }

    #[test]
    fn pipe_checks_both_ends() {
        let mut hosts = Hosts::new(SshSettings::default());
        let mut a = Host::local();
        let b = hosts.local();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let sink = Cmd::new("sh")
            .arg("-c")
            .arg("cat > \"$0\"")
            .arg(out.to_str().unwrap());
        pipe(&mut a, &Cmd::new("printf").arg("abc"), b, &sink).unwrap();
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "abc");
        let e = pipe(&mut a, &Cmd::shell("printf x; exit 3"), b, &Cmd::new("cat")).unwrap_err();
        assert!(e.to_string().contains("exit code 3"), "{e}");
        let e = pipe(
            &mut a,
            &Cmd::new("printf").arg("x"),
            b,
            &Cmd::shell("cat >/dev/null; exit 4"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("exit code 4"), "{e}");
    }

    #[test]
    fn a_reader_that_fails_first_is_the_cause_not_the_writers_broken_pipe() {
        let (mut a, mut b) = (Host::local(), Host::local());
        let full_disk =
            Cmd::shell("head -c 10 >/dev/null; echo 'No space left on device' >&2; exit 3");
        // Killed by SIGPIPE, and GNU tar's own EPIPE message.
        for writer in [
            Cmd::new("yes"),
            Cmd::shell("yes 2>/dev/null | head -c 100M; echo 'tar: -: Cannot write: Broken pipe' >&2; exit 2"),
        ] {
            let e = pipe(&mut a, &writer, &mut b, &full_disk).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("exit code 3"), "{msg}");
            assert!(msg.contains("No space left on device"), "{msg}");
        }
        // A writer that fails on its own is still the cause.
        let e = pipe(
            &mut a,
            &Cmd::shell("echo 'cannot read the image' >&2; exit 5"),
            &mut b,
            &Cmd::shell("cat >/dev/null; exit 6"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot read the image"), "{e}");
    }

    #[test]
    fn remote_lines_keep_args_env_cwd_and_signals() {
        use std::os::unix::process::ExitStatusExt;
        let sh = |line: String| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(line)
                .output()
                .unwrap()
        };
        let t = Duration::from_secs(5);
        let nasty = ["a b", "it's", "$(echo x)", "new\nline", ""];
        let out = sh(remote_line(&Cmd::new("printf").arg("%s|").args(nasty), t));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "a b|it's|$(echo x)|new\nline||"
        );
        let c = Cmd::new("sh")
            .arg("-c")
            .arg("echo \"$V $LANG\"")
            .env("V", "v w");
        let out = sh(remote_line(&c, t));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "v w C\n");
        let out = sh(remote_line(&Cmd::new("pwd").cwd("/usr"), t));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "/usr\n");
        let out = sh(remote_line(&Cmd::shell("kill -TERM $$"), t));
        assert_eq!(out.status.signal(), Some(15));
        let start = std::time::Instant::now();
        let out = sh(remote_line(
            &Cmd::shell("sleep 30 | cat"),
            Duration::from_millis(10),
        ));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(out.status.signal(), Some(9));
    }

    #[test]
    fn settings_read_the_host_key_policy_and_name_a_bad_value() {
        use crate::config::{Config, Origin};
        let mut c = Config::new();
        let d = SshSettings::from_config(&c).unwrap();
        assert_eq!(d.strict_host_key_checking, sshconfig::Strict::AcceptNew);
        c.set("SSH_STRICT_HOST_KEY_CHECKING", "yes", Origin::Environment);
        let s = SshSettings::from_config(&c).unwrap();
        assert_eq!(s.strict_host_key_checking, sshconfig::Strict::Yes);
        let file = std::path::PathBuf::from("/etc/one/tm/ssh/ssh.conf");
        c.set("SSH_STRICT_HOST_KEY_CHECKING", "maybe", Origin::File(file));
        let e = SshSettings::from_config(&c).unwrap_err().to_string();
        assert!(e.contains("SSH_STRICT_HOST_KEY_CHECKING=maybe"), "{e}");
        assert!(e.contains("/etc/one/tm/ssh/ssh.conf"), "{e}");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2, 100), "b\nc");
        assert_eq!(tail("abcdef", 5, 3), "...def");
    }
}
