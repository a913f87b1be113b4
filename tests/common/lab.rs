//! The lab: N OpenSSH servers on loopback addresses, the "hosts" `lab1`, `lab2`, ...,
//! each in a mount namespace of its own, so that the drivers under test ssh to remote
//! hosts that share no files with each other nor with the front-end (the test process).
//!
//! Everything lives in one temporary lab directory under /var/tmp:
//!
//! ```text
//! <dir>/ds                        ds_root: the front-end's datastore root
//! <dir>/fe/ssh/                   bound over /root/.ssh by frontend_command()
//! <dir>/hosts/labN/ssh/           bound over /root/.ssh inside host labN
//! <dir>/hosts/labN/ds/            bound over ds_root inside host labN
//! <dir>/hosts/labN/bashrc         bound over /root/.bashrc inside host labN (empty)
//! <dir>/hosts/labN/bin/            bound over /usr/local/sbin inside host labN: first in
//!                                 root's ssh PATH, for fake programs (host_bin)
//! <dir>/hosts/labN/sshd_config    also ssh_host_ed25519_key, sshd.pid, sshd.log
//! ```
//!
//! Namespaces, not chroots: a host sees the machine's programs and the lab directory;
//! only `/root/.ssh`, `/root/.bashrc` and `ds_root` differ, so `ds_root` is the same path
//! everywhere, as OpenNebula requires. The bind mounts exist only inside the namespaces,
//! which vanish with their processes: the machine's `/root/.ssh` and `/etc/ssh` are never
//! written (`/root/.ssh` and `/run/sshd` are created, empty, when missing).
//!
//! Every ssh dir holds the one lab client key, the same `config` (a `Host` block for each
//! `labN` and each address) and a `known_hosts` pre-seeded with the host keys, so host
//! keys are verified; `StrictHostKeyChecking accept-new` covers anything else.
//!
//! Host `labN` listens on `127.0.0.(10+N)` (127.0.0.11 for lab1) at a port picked at
//! start, so several labs (parallel tests) coexist on the same addresses.

use std::ffi::OsStr;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::cmd;

const SSHD: &str = "/usr/sbin/sshd";
const SSH: &str = "ssh";
const SSH_KEYGEN: &str = "ssh-keygen";
const SH: &str = "/bin/sh";
const UNSHARE: &str = "/usr/bin/unshare";
const NSENTER: &str = "/usr/bin/nsenter";

/// sshd refuses to start without its privilege-separation directory.
const PRIVSEP_DIR: &str = "/run/sshd";
const ROOT_SSH: &str = "/root/.ssh";
const LAB_PARENT: &str = "/var/tmp";
const MAX_HOSTS: usize = 200;
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a host may lose the race for its port to another lab before we give up.
const BIND_ATTEMPTS: usize = 5;
/// Front-end ssh probes per host once its sshd listens: failures past that point (keys,
/// config) do not heal, so fail fast instead of waiting out READY_TIMEOUT.
const PROBE_ATTEMPTS: usize = 5;

/// sshd log lines (LogLevel VERBOSE, OpenSSH 9.2). "Accepted key ... found at" and
/// "Postponed publickey" also appear once or twice per connection: do not count those.
const LOG_LISTENING: &str = "Server listening on ";
const LOG_ACCEPTED: &str = "Accepted publickey for ";
const LOG_SESSION: &str = "Starting session: ";
const LOG_ADDR_IN_USE: &str = "Address already in use";

/// The machine's ~/.bashrc, which bash sources for commands run by sshd. Hidden on hosts:
/// a developer's pyenv or cargo set-up there costs ~0.1 s per ssh command and changes PATH.
const ROOT_BASHRC: &str = "/root/.bashrc";
/// First in root's PATH for ssh sessions and empty on Debian: each host binds its own
/// `bin` dir there (see `host_bin`).
const LOCAL_SBIN: &str = "/usr/local/sbin";
/// Positional: $0 front-end ssh dir, $1 /root/.ssh, then the program and its arguments.
const FRONTEND_SCRIPT: &str = r#"mount --bind "$0" "$1" && shift && exec "$@""#;

/// A running lab; dropping it stops every host process and removes the lab directory.
pub struct Lab {
    hosts: Vec<LabHost>,
    dir: PathBuf,
    ds_root: PathBuf,
    /// Every host sees the front-end's ds_root (shared storage, like NFS).
    shared: bool,
    /// The test process's own mount namespace: never a target of the clean-up sweep.
    own_mnt_ns: Option<PathBuf>,
    /// Last field, so the directory is removed after `Drop::drop` stopped everything.
    _tmp: tempfile::TempDir,
}

/// One host: `ssh <name>` (or `ssh <addr>`) from the front-end or another host reaches it.
pub struct LabHost {
    pub name: String,
    pub addr: String,
    pub port: u16,
    dir: PathBuf,
    /// The sshd listener; `None` before the spawn and once it is known dead and reaped.
    child: Option<Child>,
    mnt_ns: Option<PathBuf>,
    /// An open handle on the host's mount namespace: it keeps the namespace (and so
    /// its inode number) alive until the lab is dropped, so that the clean-up sweep
    /// can never mistake another test's new namespace that reused the number for it.
    mnt_ns_handle: Option<fs::File>,
    /// Byte offset in sshd.log where counting starts.
    log_offset: AtomicU64,
}

impl LabHost {
    fn ssh_dir(&self) -> PathBuf {
        self.dir.join("ssh")
    }
    fn ds_dir(&self) -> PathBuf {
        self.dir.join("ds")
    }
    fn config_path(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }
    fn key_path(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key")
    }
    fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }
    fn bashrc_path(&self) -> PathBuf {
        self.dir.join("bashrc")
    }
    fn log_path(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }
    fn pid(&self) -> u32 {
        match &self.child {
            Some(c) => c.id(),
            None => panic!("lab host {}: its sshd is not running", self.name),
        }
    }
    fn log_since(&self, offset: u64) -> String {
        let bytes = fs::read(self.log_path()).unwrap_or_default();
        let start = (offset as usize).min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }
    fn log_len(&self) -> u64 {
        fs::metadata(self.log_path()).map(|m| m.len()).unwrap_or(0)
    }
    fn count(&self, needle: &str) -> usize {
        let log = self.log_since(self.log_offset.load(Ordering::SeqCst));
        log.lines().filter(|l| l.contains(needle)).count()
    }
}

impl Lab {
    /// Start `n` hosts and wait until the front-end can ssh to each; panics loudly.
    pub fn start(n: usize) -> Lab {
        Lab::start_with(n, false)
    }

    /// Like `start`, but ds_root is NOT private: the front-end and every host
    /// see the same files there, as with a shared (NFS) datastore. `host_path`
    /// then returns the path itself.
    pub fn start_shared(n: usize) -> Lab {
        Lab::start_with(n, true)
    }

    fn start_with(n: usize, shared: bool) -> Lab {
        assert!(
            (1..=MAX_HOSTS).contains(&n),
            "Lab::start({n}): a lab has 1 to {MAX_HOSTS} hosts"
        );
        prepare_machine();
        let tmp = tempfile::Builder::new()
            .prefix("one-lab-")
            .tempdir_in(LAB_PARENT)
            .unwrap_or_else(|e| panic!("lab: cannot create a directory in {LAB_PARENT}: {e}"));
        let dir = tmp
            .path()
            .canonicalize()
            .unwrap_or_else(|e| panic!("lab: canonicalize {}: {e}", tmp.path().display()));
        // From here on a panic drops `lab`, whose Drop stops whatever was started.
        let mut lab = Lab {
            hosts: Vec::new(),
            ds_root: dir.join("ds"),
            shared,
            dir,
            own_mnt_ns: fs::read_link("/proc/self/ns/mnt").ok(),
            _tmp: tmp,
        };
        lab.build(n);
        lab
    }

    pub fn hosts(&self) -> &[LabHost] {
        &self.hosts
    }

    pub fn host(&self, name: &str) -> &LabHost {
        match self.hosts.iter().find(|h| h.name == name) {
            Some(h) => h,
            None => {
                let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
                panic!("lab: no host named {name:?}; the hosts are {names:?}")
            }
        }
    }

    /// The datastore root: the same path on every host and on the front-end.
    pub fn ds_root(&self) -> &Path {
        &self.ds_root
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn fe_ssh_dir(&self) -> PathBuf {
        self.dir.join("fe").join("ssh")
    }

    pub fn ssh_config_path(&self) -> PathBuf {
        self.fe_ssh_dir().join("config")
    }

    /// A command running `program` (add arguments with `.arg`) in a fresh mount namespace
    /// where the front-end's lab ssh dir is `/root/.ssh`, so plain `ssh lab1` works.
    pub fn frontend_command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new(UNSHARE);
        c.args([
            "--mount",
            "--propagation",
            "private",
            SH,
            "-c",
            FRONTEND_SCRIPT,
        ])
        .arg(self.fe_ssh_dir())
        .arg(ROOT_SSH)
        .arg(program);
        c
    }

    /// A directory on host `name`'s PATH ahead of the system's (bound over
    /// /usr/local/sbin, first in root's ssh PATH): put fake programs there,
    /// e.g. a `virsh` that records its calls. Empty at start.
    pub fn host_bin(&self, name: &str) -> PathBuf {
        self.host(name).bin_dir()
    }

    /// Where host `name`'s copy of `p` (a path under ds_root) lives in the root namespace.
    pub fn host_path(&self, name: &str, p: &Path) -> PathBuf {
        let rel = p.strip_prefix(&self.ds_root).unwrap_or_else(|_| {
            panic!(
                "lab: host_path({name:?}, {}): the path is not under ds_root {}",
                p.display(),
                self.ds_root.display()
            )
        });
        let base = if self.shared {
            self.ds_root.clone()
        } else {
            self.host(name).ds_dir()
        };
        if rel.as_os_str().is_empty() {
            base
        } else {
            base.join(rel)
        }
    }

    /// Run `argv` inside host `name`'s mount namespace. Does not check the exit status.
    pub fn run_on(&self, name: &str, argv: &[&str]) -> Output {
        assert!(!argv.is_empty(), "lab: run_on({name:?}) needs a program");
        let pid = self.host(name).pid().to_string();
        cmd::run(
            Command::new(NSENTER)
                .args(["-t", &pid, "-m", "--"])
                .args(argv),
        )
    }

    pub fn sh_on(&self, name: &str, script: &str) -> Output {
        self.run_on(name, &[SH, "-c", script])
    }

    /// Accepted public-key logins on host `name` since start or the last reset_counts().
    pub fn ssh_connections(&self, name: &str) -> usize {
        self.host(name).count(LOG_ACCEPTED)
    }

    /// Sessions (one per remote command, shell or subsystem) since start or reset.
    pub fn ssh_commands(&self, name: &str) -> usize {
        self.host(name).count(LOG_SESSION)
    }

    pub fn reset_counts(&self) {
        for h in &self.hosts {
            h.log_offset.store(h.log_len(), Ordering::SeqCst);
        }
    }

    pub fn sshd_log(&self, name: &str) -> String {
        self.host(name).log_since(0)
    }

    fn build(&mut self, n: usize) {
        mkdir(&self.ds_root);
        let fe = self.fe_ssh_dir();
        mkdir(&fe);
        keygen(&fe.join("id_ed25519"));
        for i in 1..=n {
            let name = format!("lab{i}");
            let dir = self.dir.join("hosts").join(&name);
            let host = LabHost {
                addr: format!("127.0.0.{}", 10 + i),
                name,
                port: 0,
                dir,
                child: None,
                mnt_ns: None,
                mnt_ns_handle: None,
                log_offset: AtomicU64::new(0),
            };
            mkdir(&host.ssh_dir());
            mkdir(&host.ds_dir());
            mkdir(&host.bin_dir());
            keygen(&host.key_path());
            self.hosts.push(host);
        }
        // All sshds start at once; then wait for each.
        for i in 0..n {
            self.spawn(i);
        }
        let deadline = Instant::now() + READY_TIMEOUT;
        for i in 0..n {
            self.wait_listening(i, deadline);
        }
        // Ports are final now: the client configs can name them.
        self.write_ssh_dirs();
        self.wait_ssh(deadline);
        self.reset_counts();
    }

    /// Pick a port, write the host's sshd_config and start its sshd.
    fn spawn(&mut self, i: usize) {
        let ds_root = self.ds_root.clone();
        let shared = self.shared;
        let h = &mut self.hosts[i];
        h.port = free_port(&h.addr);
        write_file(&h.config_path(), sshd_config(h).as_bytes(), 0o600);
        write_file(
            &h.bashrc_path(),
            b"# lab host: the machine's /root/.bashrc is hidden\n",
            0o644,
        );
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(h.log_path())
            .unwrap_or_else(|e| panic!("lab: open {}: {e}", h.log_path().display()));
        let log2 = log
            .try_clone()
            .unwrap_or_else(|e| panic!("lab: dup log fd: {e}"));
        h.log_offset.store(h.log_len(), Ordering::SeqCst);
        // `exec` keeps the sshd pid equal to the spawned child's: kill and nsenter use it.
        use cmd::quote as q;
        let script = format!(
            "set -e\n\
             mount --bind {ssh} {root_ssh}\n\
             {ds_bind}\n\
             if [ -f {bashrc} ]; then mount --bind {empty} {bashrc}; fi\n\
             if [ -d {local_sbin} ]; then mount --bind {bin} {local_sbin}; fi\n\
             exec {sshd} -D -e -f {config} -E {log}\n",
            ssh = q(h.ssh_dir()),
            root_ssh = q(ROOT_SSH),
            ds_bind = if shared {
                "# shared storage: ds_root is the front-end's".to_string()
            } else {
                format!("mount --bind {} {}", q(h.ds_dir()), q(&ds_root))
            },
            bashrc = q(ROOT_BASHRC),
            empty = q(h.bashrc_path()),
            local_sbin = q(LOCAL_SBIN),
            bin = q(h.bin_dir()),
            sshd = q(SSHD),
            config = q(h.config_path()),
            log = q(h.log_path()),
        );
        let mut c = Command::new(UNSHARE);
        c.args([
            "--mount",
            "--propagation",
            "private",
            SH,
            "-c",
            &script,
            &h.name,
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
        match c.spawn() {
            Ok(child) => h.child = Some(child),
            Err(e) => panic!("lab: cannot start `{}`: {e}", cmd::render(&c)),
        }
    }

    /// Wait until sshd logs that it listens; restart it on a new port if another lab
    /// took its port in the meantime.
    fn wait_listening(&mut self, i: usize, deadline: Instant) {
        let mut attempts = 1;
        loop {
            let h = &mut self.hosts[i];
            let log = h.log_since(h.log_offset.load(Ordering::SeqCst));
            if log.contains(&format!("{LOG_LISTENING}{} port {}.", h.addr, h.port)) {
                break;
            }
            let exited = h.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                h.child = None;
                if log.contains(LOG_ADDR_IN_USE) && attempts < BIND_ATTEMPTS {
                    attempts += 1;
                    self.spawn(i);
                    continue;
                }
                let what = format!("sshd exited before listening: {}", cmd::describe(status));
                panic!("{}", self.host_failure(i, &what));
            }
            if Instant::now() > deadline {
                let what = format!("sshd did not log {LOG_LISTENING:?} within {READY_TIMEOUT:?}");
                panic!("{}", self.host_failure(i, &what));
            }
            sleep(Duration::from_millis(20));
        }
        // Listening means unshare has run: the namespace is the host's own by now.
        let pid = self.hosts[i].pid();
        let ns = fs::read_link(format!("/proc/{pid}/ns/mnt")).ok();
        if ns.is_none() || ns == self.own_mnt_ns {
            let what = format!("sshd (pid {pid}) is not in a mount namespace of its own: {ns:?}");
            panic!("{}", self.host_failure(i, &what));
        }
        self.hosts[i].mnt_ns_handle = fs::File::open(format!("/proc/{pid}/ns/mnt")).ok();
        self.hosts[i].mnt_ns = ns;
    }

    /// `ssh labN true` from the front-end, all hosts at once, until each succeeds.
    fn wait_ssh(&self, deadline: Instant) {
        let mut pending: Vec<usize> = (0..self.hosts.len()).collect();
        for attempt in 1.. {
            let probes: Vec<_> = pending
                .iter()
                .map(|&i| {
                    let mut c = self.frontend_command(SSH);
                    c.arg(&self.hosts[i].name).arg("true");
                    c.stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::piped());
                    let child = c
                        .spawn()
                        .unwrap_or_else(|e| panic!("lab: cannot start `{}`: {e}", cmd::render(&c)));
                    (i, c, child)
                })
                .collect();
            let mut failed = Vec::new();
            for (i, c, child) in probes {
                let out = child
                    .wait_with_output()
                    .unwrap_or_else(|e| panic!("lab: wait for `{}`: {e}", cmd::render(&c)));
                if !out.status.success() {
                    failed.push((i, c, out));
                }
            }
            let Some((i, c, out)) = failed.first() else {
                return;
            };
            if attempt == PROBE_ATTEMPTS || Instant::now() > deadline {
                let headline = format!("front-end ssh failed {attempt} times");
                panic!("{}", self.host_failure(*i, &cmd::report(c, out, &headline)));
            }
            pending = failed.iter().map(|(i, _, _)| *i).collect();
            sleep(Duration::from_millis(100));
        }
    }

    /// Key, config and known_hosts for the front-end and every host; the same content,
    /// separate files (each party appends to its own known_hosts).
    fn write_ssh_dirs(&self) {
        let fe = self.fe_ssh_dir();
        let private = read(&fe.join("id_ed25519"));
        let public = read(&fe.join("id_ed25519.pub"));
        let config = self.client_config();
        let known = self.known_hosts();
        write_file(&fe.join("config"), config.as_bytes(), 0o600);
        write_file(&fe.join("known_hosts"), known.as_bytes(), 0o600);
        for h in &self.hosts {
            let d = h.ssh_dir();
            write_file(&d.join("id_ed25519"), &private, 0o600);
            write_file(&d.join("id_ed25519.pub"), &public, 0o644);
            write_file(&d.join("authorized_keys"), &public, 0o600);
            write_file(&d.join("config"), config.as_bytes(), 0o600);
            write_file(&d.join("known_hosts"), known.as_bytes(), 0o600);
        }
    }

    fn client_config(&self) -> String {
        let mut s =
            String::from("# one-storage lab: the ssh client configuration of every party\n");
        for h in &self.hosts {
            for pattern in [&h.name, &h.addr] {
                s += &format!(
                    "\nHost {pattern}\n  HostName {}\n  Port {}\n  User root\n  \
                     IdentityFile ~/.ssh/id_ed25519\n  IdentitiesOnly yes\n  \
                     UserKnownHostsFile ~/.ssh/known_hosts\n  StrictHostKeyChecking accept-new\n  \
                     BatchMode yes\n  ConnectTimeout 5\n",
                    h.addr, h.port
                );
            }
        }
        s
    }

    /// Pre-seeded with the host keys (the lab made them), so every party verifies them.
    fn known_hosts(&self) -> String {
        let mut s = String::new();
        for h in &self.hosts {
            let public =
                String::from_utf8_lossy(&read(&h.key_path().with_extension("pub"))).into_owned();
            let key: Vec<&str> = public.split_whitespace().take(2).collect();
            s += &format!(
                "[{}]:{p},[{}]:{p} {}\n",
                h.name,
                h.addr,
                key.join(" "),
                p = h.port
            );
        }
        s
    }

    fn host_failure(&self, i: usize, what: &str) -> String {
        let h = &self.hosts[i];
        let config = fs::read_to_string(h.config_path()).unwrap_or_else(|e| format!("({e})"));
        format!(
            "lab host {} ({}:{}) failed to start: {what}\n--- {} ---\n{}--- {} ---\n{}--- end of sshd log ---",
            h.name,
            h.addr,
            h.port,
            h.config_path().display(),
            config,
            h.log_path().display(),
            h.log_since(0),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Must not panic: it may run while a failed start unwinds.
        for h in &self.hosts {
            if let Some(c) = &h.child {
                // Not reaped yet, so the pid cannot have been reused.
                unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for h in &mut self.hosts {
            let Some(mut c) = h.child.take() else {
                continue;
            };
            loop {
                match c.try_wait() {
                    Ok(None) if Instant::now() < deadline => sleep(Duration::from_millis(10)),
                    Ok(None) => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                    Ok(Some(_)) | Err(_) => break,
                }
            }
        }
        // Session processes outlive the listener (say, a `tar | ssh` still running):
        // kill whatever is left in the hosts' namespaces. Never our own namespace.
        let targets: Vec<&PathBuf> = self
            .hosts
            .iter()
            .filter_map(|h| h.mnt_ns.as_ref())
            .filter(|ns| self.own_mnt_ns.is_some() && Some(*ns) != self.own_mnt_ns.as_ref())
            .collect();
        for _ in 0..100 {
            if targets.is_empty() || kill_namespace_members(&targets) == 0 {
                break;
            }
            sleep(Duration::from_millis(20));
        }
    }
}

/// SIGKILL every process whose mount namespace is one of `targets`; how many were found.
fn kill_namespace_members(targets: &[&PathBuf]) -> usize {
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    let mut found = 0;
    for e in entries.flatten() {
        let Some(pid) = e
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        match fs::read_link(e.path().join("ns/mnt")) {
            Ok(ns) if targets.contains(&&ns) => {
                found += 1;
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            _ => {}
        }
    }
    found
}

fn sshd_config(h: &LabHost) -> String {
    format!(
        "# one-storage lab host {name}\n\
         ListenAddress {addr}:{port}\n\
         HostKey {key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile /root/.ssh/authorized_keys\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         MaxStartups 100\n\
         MaxSessions 100\n\
         UseDNS no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         LogLevel VERBOSE\n\
         Subsystem sftp internal-sftp\n",
        name = h.name,
        addr = h.addr,
        port = h.port,
        key = h.key_path().display(),
        pid = h.dir.join("sshd.pid").display(),
    )
}

/// Machine-wide prerequisites, created only when missing; /root/.ssh is a mount point
/// and its contents are never touched.
fn prepare_machine() {
    for (dir, mode) in [(PRIVSEP_DIR, 0o755), (ROOT_SSH, 0o700)] {
        match DirBuilder::new().mode(mode).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => panic!("lab: cannot create {dir}: {e}"),
        }
    }
}

/// A port that is free on `addr` right now. Another lab may grab it before our sshd
/// binds: wait_listening() notices and retries.
fn free_port(addr: &str) -> u16 {
    let l = TcpListener::bind((addr, 0)).unwrap_or_else(|e| panic!("lab: bind {addr}:0: {e}"));
    l.local_addr()
        .unwrap_or_else(|e| panic!("lab: local_addr of {addr}: {e}"))
        .port()
}

fn keygen(path: &Path) {
    cmd::run_ok(
        Command::new(SSH_KEYGEN)
            .args([
                "-t",
                "ed25519",
                "-N",
                "",
                "-q",
                "-C",
                "one-storage-lab",
                "-f",
            ])
            .arg(path),
    );
}

fn mkdir(path: &Path) {
    fs::create_dir_all(path).unwrap_or_else(|e| panic!("lab: mkdir {}: {e}", path.display()));
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("lab: read {}: {e}", path.display()))
}

fn write_file(path: &Path, contents: &[u8], mode: u32) {
    fs::write(path, contents).unwrap_or_else(|e| panic!("lab: write {}: {e}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("lab: chmod {}: {e}", path.display()));
}
