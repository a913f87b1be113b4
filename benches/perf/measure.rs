//! Measuring: medians of repeated runs, a child's peak memory (wait4), and the
//! bytes each lab sshd moved (its `Transferred: sent N, received M bytes` log
//! lines, one per connection, written when the connection closes).

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

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

/// A shell pipeline run inside lab host `host` (its own ssh set-up and files).
pub fn host_sh(lab: &Lab, host: &str, script: &str) -> Command {
    let pid = sshd_pid(lab, host);
    let mut c = Command::new("nsenter");
    c.args(["-t", &pid, "-m", "--", "/bin/sh", "-c", script]);
    c.stdin(Stdio::null());
    c
}

fn sshd_pid(lab: &Lab, host: &str) -> String {
    let p = lab.dir().join("hosts").join(host).join("sshd.pid");
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Counts what the lab's sshds logged since `Wire::start`.
pub struct Wire {
    logs: Vec<(PathBuf, u64)>,
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
        Wire { logs }
    }

    /// What the hosts logged since `start`; waits (up to 2 s) until every
    /// accepted connection has logged its closing byte count.
    pub fn stop(&self) -> Traffic {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let (t, closed) = self.read();
            if closed >= t.connections || Instant::now() > deadline {
                return t;
            }
            sleep(Duration::from_millis(10));
        }
    }

    fn read(&self) -> (Traffic, usize) {
        let mut t = Traffic::default();
        let mut closed = 0;
        for (p, offset) in &self.logs {
            let bytes = fs::read(p).unwrap_or_default();
            let start = (*offset as usize).min(bytes.len());
            for line in String::from_utf8_lossy(&bytes[start..]).lines() {
                if line.contains("Accepted publickey for ") {
                    t.connections += 1;
                } else if line.contains("Starting session: ") {
                    t.commands += 1;
                } else if let Some(n) = transferred(line) {
                    closed += 1;
                    t.bytes += n;
                }
            }
        }
        (t, closed)
    }
}

/// `Transferred: sent 3472, received 2960 bytes` → 6432.
fn transferred(line: &str) -> Option<u64> {
    let rest = &line[line.find("Transferred: sent ")? + "Transferred: sent ".len()..];
    let (sent, rest) = rest.split_once(", received ")?;
    let received = rest.split_whitespace().next()?;
    Some(sent.trim().parse::<u64>().ok()? + received.parse::<u64>().ok()?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_the_sshd_byte_count() {
        assert_eq!(
            super::transferred("Transferred: sent 3472, received 2960 bytes"),
            Some(6432)
        );
    }
}
