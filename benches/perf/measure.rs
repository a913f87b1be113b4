//! Measuring: medians of repeated runs, a child's peak memory (wait4), the
//! connections and sessions each lab sshd logged, and the bytes on the wire
//! (an nftables counter on the labs' sshd ports, both directions).

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::time::Instant;

use crate::common::lab::Lab;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// The median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// What one run of a command left behind.
pub struct Run {
    pub secs: f64,
    pub status: ExitStatus,
    /// Peak resident set of the child and its waited-for descendants, bytes.
    pub max_rss: u64,
    pub stderr: String,
    pub stdout: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// The last stderr line (the failure reason oned keeps).
    pub fn reason(&self) -> String {
        self.stderr.lines().last().unwrap_or("").to_string()
    }
}

/// Runs `cmd` with `stdin` bytes, timing it from spawn to exit; stdout and
/// stderr go to files (no pipe can fill up), peak memory comes from wait4.
pub fn run(mut cmd: Command, stdin: &[u8]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let (out_p, err_p, in_p) = (
        dir.path().join("out"),
        dir.path().join("err"),
        dir.path().join("in"),
    );
    fs::write(&in_p, stdin).expect("write stdin file");
    cmd.stdin(fs::File::open(&in_p).expect("stdin file"))
        .stdout(fs::File::create(&out_p).expect("stdout file"))
        .stderr(fs::File::create(&err_p).expect("stderr file"));
    let start = Instant::now();
    // Reaped by wait4 below (for its rusage), not by Child::wait.
    #[allow(clippy::zombie_processes)]
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let (status, max_rss) = wait4(child.id());
    let secs = start.elapsed().as_secs_f64();
    Run {
        secs,
        status,
        max_rss,
        stdout: fs::read_to_string(&out_p).unwrap_or_default(),
        stderr: fs::read_to_string(&err_p).unwrap_or_default(),
    }
}

/// Like `run`, and panics with the evidence unless the command succeeded.
pub fn run_ok(cmd: Command, stdin: &[u8]) -> Run {
    let shown = format!("{cmd:?}");
    let r = run(cmd, stdin);
    assert!(
        r.ok(),
        "benchmark step failed: {shown}\nstatus: {:?}\nstdout: {}\nstderr: {}",
        r.status,
        r.stdout,
        r.stderr
    );
    r
}

fn wait4(pid: u32) -> (ExitStatus, u64) {
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our own unreaped child; the pointers are valid.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r == pid as libc::pid_t {
            break;
        }
        let e = std::io::Error::last_os_error();
        assert_eq!(e.kind(), std::io::ErrorKind::Interrupted, "wait4: {e}");
    }
    (
        ExitStatus::from_raw(status),
        usage.ru_maxrss.max(0) as u64 * 1024,
    )
}

/// `program args...` as a Command.
pub fn tool<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> Command {
    let mut c = Command::new(program);
    c.args(args);
    c
}

/// A shell pipeline run from the lab's front-end (its ssh set-up as ~/.ssh).
pub fn fe_sh(lab: &Lab, script: &str) -> Command {
    let mut c = lab.frontend_command("/bin/sh");
    c.arg("-c").arg(script);
    c
}

/// Packets to and from the lab's sshd ports, counted by the kernel
/// (nftables, input hook: every loopback packet passes it once), IP and TCP
/// headers included. Only the labs' ports are counted, so other users of the
/// machine's loopback do not disturb the figure.
pub struct NftCounter {
    table: String,
}

static COUNTER: OnceLock<Option<NftCounter>> = OnceLock::new();

impl NftCounter {
    /// Sets up the counter for `ports`; false (and a message) without nft.
    pub fn install(ports: &[u16]) -> bool {
        COUNTER.get_or_init(|| NftCounter::new(ports)).is_some()
    }

    fn new(ports: &[u16]) -> Option<NftCounter> {
        let table = format!("one_bench_{}", std::process::id());
        let set = ports
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let script = format!(
            "add table inet {table}\n\
             add counter inet {table} lab\n\
             add chain inet {table} input {{ type filter hook input priority 0; policy accept; }}\n\
             add rule inet {table} input tcp dport {{ {set} }} counter name lab\n\
             add rule inet {table} input tcp sport {{ {set} }} counter name lab\n"
        );
        let dir = tempfile::tempdir().ok()?;
        let f = dir.path().join("rules.nft");
        fs::write(&f, script).ok()?;
        let r = run(tool("nft", &[Path::new("-f"), &f]), b"");
        if !r.ok() {
            eprintln!("nft unavailable ({}): no byte counts", r.stderr.trim());
            return None;
        }
        Some(NftCounter { table })
    }

    /// Bytes counted so far (0 without a counter).
    pub fn bytes() -> u64 {
        let Some(Some(c)) = COUNTER.get() else {
            return 0;
        };
        let r = run(
            tool("nft", &["list", "counter", "inet", &c.table, "lab"]),
            b"",
        );
        r.stdout
            .split_whitespace()
            .skip_while(|w| *w != "bytes")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Removes the table (at the end of the run).
    pub fn remove() {
        if let Some(Some(c)) = COUNTER.get() {
            let _ = run(tool("nft", &["delete", "table", "inet", &c.table]), b"");
        }
    }
}

/// Counts what the lab's sshds logged, and the bytes, since `Wire::start`.
pub struct Wire {
    logs: Vec<(PathBuf, u64)>,
    bytes: u64,
}

/// Connections, commands (sessions) and bytes both ways, summed over hosts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traffic {
    pub connections: usize,
    pub commands: usize,
    pub bytes: u64,
}

impl Wire {
    pub fn start(lab: &Lab) -> Wire {
        let logs = lab
            .hosts()
            .iter()
            .map(|h| {
                let p = lab.dir().join("hosts").join(&h.name).join("sshd.log");
                let len = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                (p, len)
            })
            .collect();
        Wire {
            logs,
            bytes: NftCounter::bytes(),
        }
    }

    /// What happened since `start`.
    pub fn stop(&self) -> Traffic {
        let mut t = Traffic {
            bytes: NftCounter::bytes().saturating_sub(self.bytes),
            ..Traffic::default()
        };
        for (p, offset) in &self.logs {
            let bytes = fs::read(p).unwrap_or_default();
            let start = (*offset as usize).min(bytes.len());
            for line in String::from_utf8_lossy(&bytes[start..]).lines() {
                if line.contains("Accepted publickey for ") {
                    t.connections += 1;
                } else if line.contains("Starting session: ") {
                    t.commands += 1;
                }
            }
        }
        t
    }
}
