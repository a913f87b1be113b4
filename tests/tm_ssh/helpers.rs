//! Helpers of the ssh TM tests: a lab with a TM environment, paths on each
//! host, file facts (apparent size, allocated bytes, content), qemu-img info
//! run inside a host, and the loopback byte counter.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::cmd::expect_ok;
use crate::common::lab::Lab;
use crate::tm_support::{reason, TmEnv, Transport};

pub const MIB: u64 = 1 << 20;

/// A lab plus a remotes tree whose ssh driver calls the front-end `fe`.
pub struct T {
    pub lab: Lab,
    pub env: TmEnv,
}

impl T {
    pub fn new(hosts: usize, t: Transport) -> T {
        T::with(Lab::start(hosts), t)
    }

    /// Every host sees the front-end's datastores (NFS-like).
    pub fn shared(hosts: usize, t: Transport) -> T {
        T::with(Lab::start_shared(hosts), t)
    }

    /// With extra lines in the driver's conf file.
    pub fn with_conf(hosts: usize, t: Transport, conf: &str) -> T {
        T {
            lab: Lab::start(hosts),
            env: TmEnv::new(t, &format!("FRONTEND_HOSTS=fe\n{conf}")),
        }
    }

    fn with(lab: Lab, t: Transport) -> T {
        T {
            lab,
            env: TmEnv::new(t, "FRONTEND_HOSTS=fe"),
        }
    }

    /// The path oned names: `<ds_root>/<rel>` (the same on every host).
    pub fn path(&self, rel: &str) -> PathBuf {
        self.lab.ds_root().join(rel)
    }

    /// The real file behind `rel` on `host` (`fe` = the front-end).
    pub fn on(&self, host: &str, rel: &str) -> PathBuf {
        if host == "fe" {
            self.path(rel)
        } else {
            self.lab.host_path(host, &self.path(rel))
        }
    }

    /// `host:<ds_root>/<rel>`, an argument as oned writes it.
    pub fn loc(&self, host: &str, rel: &str) -> String {
        format!("{host}:{}", self.path(rel).display())
    }

    pub fn ok(&self, action: &str, args: &[&str]) -> Output {
        self.env.run_ok(&self.lab, "ssh", action, args)
    }

    /// `clone fe:<img> lab1:<ds_root>/<dst> 7 1`, which must succeed.
    pub fn clone_from_fe(&self, img: &Path, dst: &str) -> Output {
        let src = format!("fe:{}", img.display());
        self.ok("clone", &[&src, &self.loc("lab1", dst), "7", "1"])
    }

    pub fn fail(&self, action: &str, args: &[&str]) -> Output {
        let out = self.env.run_fail(&self.lab, "ssh", action, args);
        let r = reason(&out);
        assert_eq!(r.len(), 1, "one reason line expected: {r:?}");
        out
    }

    pub fn run_stdin(&self, action: &str, args: &[&str], stdin: &[u8]) -> Output {
        self.env.run(&self.lab, "ssh", action, args, stdin)
    }

    /// `qemu-img info --output=json [--backing-chain]` run inside `host`.
    pub fn qemu_info(&self, host: &str, rel: &str, chain: bool) -> serde_json::Value {
        let p = self.path(rel).display().to_string();
        let mut argv = vec!["qemu-img", "info", "-U", "--output=json"];
        if chain {
            argv.push("--backing-chain");
        }
        argv.push(&p);
        let out = expect_ok(self.lab.run_on(host, &argv), "qemu-img info");
        serde_json::from_slice(&out.stdout).expect("qemu-img json")
    }
}

/// The failure reason (the one plain stderr line).
pub fn why(out: &Output) -> String {
    reason(out).join(" | ")
}

/// A sparse file: `apparent` bytes with `data_mib` MiB of random data at 8 MiB.
pub fn sparse_file(p: &Path, apparent: u64, data_mib: u64) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let f = std::fs::File::create(p).unwrap();
    f.set_len(apparent).unwrap();
    drop(f);
    let st = std::process::Command::new("dd")
        .args([
            "if=/dev/urandom",
            "bs=1M",
            "conv=notrunc",
            "status=none",
            "seek=8",
        ])
        .arg(format!("of={}", p.display()))
        .arg(format!("count={data_mib}"))
        .status()
        .unwrap();
    assert!(st.success());
}

pub fn write(p: &Path, data: &[u8]) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

pub fn apparent(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .len()
}

pub fn allocated(p: &Path) -> u64 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .blocks()
        * 512
}

/// The first `n` bytes (the data region of the sparse files above).
pub fn head(p: &Path, n: u64) -> Vec<u8> {
    use std::io::Read;
    let mut v = Vec::new();
    std::fs::File::open(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .take(n)
        .read_to_end(&mut v)
        .unwrap();
    v
}

/// `rel` entries of `dir` (not recursive), sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Bytes received on the loopback interface so far (every lab host talks
/// over loopback; other tests can only make the number bigger).
pub fn loopback_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("lo:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .expect("lo in /proc/net/dev")
}

/// `chattr +i` / `-i`: even root cannot create, rename or remove entries.
pub fn immutable(p: &Path, on: bool) {
    let st = std::process::Command::new("chattr")
        .arg(if on { "+i" } else { "-i" })
        .arg(p)
        .status()
        .unwrap();
    assert!(st.success(), "chattr {}", p.display());
}

/// Runs both transports of each scenario: `both!(name, ...)` makes
/// `ssh2::name` and `cli::name` calling `name(Transport)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod ssh2 {
            $( #[test] fn $name() { super::$name($crate::tm_support::Transport::Ssh2) } )*
        }
        mod cli {
            $( #[test] fn $name() { super::$name($crate::tm_support::Transport::Cli) } )*
        }
    };
}
