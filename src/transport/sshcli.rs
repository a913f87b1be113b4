//! SSH with the system client, for the operator's whole set-up (ProxyJump,
//! certificates, GSSAPI, ...): one private ControlMaster per host for the
//! action, and one `ssh` mux client per command, run like any local command.
//!
//! The master is our child, reaped on drop, and gets PR_SET_PDEATHSIG so that
//! it dies with us even when we are killed: no ssh process outlives an action.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::local::Local;
use super::sshconfig::{self, ResolvedHost};
use super::{Io, Output, Sink, SshSettings, Status, Transport};
use crate::command::Cmd;
use crate::error::{Error, Result};
use crate::tools;

/// Beyond ConnectTimeout (TCP only), the time login may take.
const LOGIN_GRACE: Duration = Duration::from_secs(10);
const EXIT_GRACE: Duration = Duration::from_secs(2);

pub struct SshCli {
    host: String,
    settings: SshSettings,
    target: ResolvedHost,
    /// Private directory (0700) holding the control socket and the master's log.
    dir: tempfile::TempDir,
    master: Child,
}

impl SshCli {
    pub fn connect(host: &str, settings: &SshSettings) -> Result<SshCli> {
        super::check_host_name(host)?;
        assert!(!host.starts_with('-'), "host names are checked above");
        let program = tools::SSH.locate()?;
        let target = sshconfig::resolve(host, settings)?;
        // ssh takes IPv6 literals bare, as the Host patterns see them.
        let host = &sshconfig::destination(host);
        let dir = tempfile::Builder::new()
            .prefix("ost-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(runtime_dir())
            .map_err(|e| Error::io("cannot create a directory for the ssh control socket", e))?;
        let log = std::fs::File::create(dir.path().join("master.log"))
            .map_err(|e| Error::io("cannot create the ssh master's log", e))?;
        let mut c = Command::new(program);
        c.args(["-M", "-N", "-o", "ControlPersist=no"])
            .args(options(dir.path(), settings, &target))
            .arg("--")
            .arg(host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let master = spawn_tied_to_process(c).map_err(|e| {
            Error::io(
                format!("cannot run '{}' on the front-end", tools::SSH.name),
                e,
            )
        })?;
        let mut cli = SshCli {
            host: host.to_string(),
            settings: settings.clone(),
            target,
            dir,
            master,
        };
        cli.wait_ready()?;
        log::debug!(
            "connected to {host} through the ssh master {}",
            cli.control_path().display()
        );
        Ok(cli)
    }

    /// The master's control socket.
    pub fn control_path(&self) -> PathBuf {
        self.dir.path().join("ctl")
    }

    /// The master creates its socket once logged in; it exits if it cannot.
    fn wait_ready(&mut self) -> Result<()> {
        let limit = self.target.connect_timeout + LOGIN_GRACE;
        let until = Instant::now() + limit;
        loop {
            if let Ok(Some(_)) = self.master.try_wait() {
                return Err(Error::Ssh(format!(
                    "cannot connect to {}: {}",
                    self.host,
                    self.master_log()
                )));
            }
            if std::os::unix::net::UnixStream::connect(self.control_path()).is_ok() {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(Error::Ssh(format!(
                    "cannot connect to {}: not logged in after {} s {}",
                    self.host,
                    limit.as_secs(),
                    self.master_log()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn master_alive(&mut self) -> bool {
        matches!(self.master.try_wait(), Ok(None))
    }

    /// The last lines ssh wrote about the connection, on one line.
    fn master_log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("master.log")).unwrap_or_default();
        let t = super::tail(&text, 4, 1000);
        if t.is_empty() {
            "ssh said nothing".to_string()
        } else {
            crate::error::one_line(&t)
        }
    }

    /// `ssh <options> -- <host> <line>` through the master.
    fn client(&self, extra: &[&str], remote: Option<String>) -> Cmd {
        let mut c = tools::SSH
            .cmd()
            .args(extra.iter().copied())
            .args(options(self.dir.path(), &self.settings, &self.target))
            .arg("--")
            .arg(&self.host);
        if let Some(line) = remote {
            c = c.arg(line);
        }
        c
    }
}

/// Options of every ssh we run for this host. The resolved values equal the
/// ssh_config ones when it sets them; otherwise they carry the driver's defaults.
fn options(dir: &Path, settings: &SshSettings, t: &ResolvedHost) -> Vec<String> {
    let mut o = vec![
        "-S".to_string(),
        dir.join("ctl").to_string_lossy().into_owned(),
        "-o".to_string(),
        "BatchMode=yes".to_string(),
        "-o".to_string(),
        format!("ConnectTimeout={}", t.connect_timeout.as_secs().max(1)),
        "-o".to_string(),
        format!("ServerAliveInterval={}", t.keepalive.as_secs()),
        "-o".to_string(),
        format!("StrictHostKeyChecking={}", t.strict.as_str()),
    ];
    if let Some(f) = &settings.config_file {
        o.push("-F".to_string());
        o.push(f.to_string_lossy().into_owned());
    }
    o
}

/// `$XDG_RUNTIME_DIR` when set (private to the user), else /tmp: both short
/// enough for a socket path.
fn runtime_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir() && d.as_os_str().len() < 60)
        .unwrap_or_else(std::env::temp_dir)
}

impl Transport for SshCli {
    fn exec(&mut self, cmd: &Cmd, io: Io<'_>) -> Result<Output> {
        if !self.master_alive() {
            return Err(Error::Ssh(format!(
                "the connection to {} has ended: {}",
                self.host,
                self.master_log()
            )));
        }
        // ProxyCommand=false: should the master be gone, the client fails at
        // once instead of quietly opening a second connection.
        let deadline = cmd.get_timeout().unwrap_or(self.settings.command_timeout);
        let ssh = self
            .client(
                &["-T", "-o", "ControlMaster=no", "-o", "ProxyCommand=false"],
                Some(super::remote_line(cmd, deadline)),
            )
            .timeout(deadline);
        // ssh exits 255 when the pipe it writes the output into lost its
        // reader; a watch on that pipe tells this apart from ssh's other 255s.
        let watch = match &io.stdout {
            Some(Sink::Pipe(p)) => p.try_clone().ok(),
            _ => None,
        };
        let out = Local { timeout: deadline }.exec(&ssh, io)?;
        let out = match out.status {
            // The deadline is the command's, not ssh's.
            Status::TimedOut(_) => Output {
                status: Status::TimedOut(deadline),
                ..out
            },
            Status::Code(255) if watch.as_ref().is_some_and(super::local::reader_gone) => {
                let mut stderr = out.stderr;
                stderr.extend_from_slice(
                    b"ssh: writing the output: Broken pipe (its reader ended)\n",
                );
                Output { stderr, ..out }
            }
            // 255 is ssh's own failure only when the master is gone.
            Status::Code(255) if !self.master_alive() => {
                return Err(Error::Ssh(format!(
                    "lost the connection to {} while running {}: {}",
                    self.host,
                    cmd.program(),
                    self.master_log()
                )));
            }
            _ => out,
        };
        Ok(out)
    }
}

impl Drop for SshCli {
    fn drop(&mut self) {
        if self.master_alive() {
            let exit = self.client(&["-O", "exit"], None).timeout(EXIT_GRACE);
            let _ = Local {
                timeout: EXIT_GRACE,
            }
            .exec(&exit, Io::default());
        }
        let until = Instant::now() + EXIT_GRACE;
        while self.master_alive() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `c` so that it gets SIGTERM when this process dies. The kernel sends
/// PR_SET_PDEATHSIG when the *thread* that forked the child ends, so every
/// master is forked by one thread that lives as long as the process.
fn spawn_tied_to_process(mut c: Command) -> std::io::Result<Child> {
    // SAFETY: prctl(2) and getppid(2) are async-signal-safe; nothing is allocated.
    unsafe {
        let parent = libc::getpid();
        c.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 || libc::getppid() != parent
            {
                return Err(std::io::Error::other("the parent exited"));
            }
            Ok(())
        });
    }
    static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let t = std::thread::Builder::new()
            .name("ssh-master-spawner".to_string())
            .spawn(move || {
                for (mut c, reply) in rx {
                    let _ = reply.send(c.spawn());
                }
            });
        t.ok().map(|_| Mutex::new(tx))
    });
    let Some(spawner) = spawner else {
        return c.spawn();
    };
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = match spawner.lock() {
        Ok(tx) => tx.send((c, reply_tx)).is_ok(),
        Err(_) => false,
    };
    match (sent, reply_rx.recv()) {
        (true, Ok(r)) => r,
        _ => Err(std::io::Error::other(
            "the ssh master spawner thread is gone",
        )),
    }
}
