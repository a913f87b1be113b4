//! The fixture of the shared TM tests: a shared-storage lab (the front-end
//! and every host see the same files under `ds_root`), a remotes tree with
//! fake oned CLIs, and helpers that look at the real state: links, qemu-img
//! info of whole chains, allocated blocks, data patterns read with qemu-io.
#![allow(dead_code)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::common::lab::Lab;
use crate::tm_support::{evidence, reason, TmEnv, Transport, Vm};

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;

/// Runs one scenario body for both SSH transports: `<name>::ssh2`, `<name>::cli`.
#[macro_export]
macro_rules! both_transports {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn ssh2() {
                super::$name($crate::tm_support::Transport::Ssh2)
            }
            #[test]
            fn cli() {
                super::$name($crate::tm_support::Transport::Cli)
            }
        }
    )*};
}

pub struct Fx {
    pub lab: Lab,
    pub env: TmEnv,
    /// The host actions run on: `lab1`.
    pub host: String,
}

impl Fx {
    pub fn new(t: Transport) -> Fx {
        Fx::with_conf(t, "")
    }

    pub fn with_conf(t: Transport, conf: &str) -> Fx {
        let lab = Lab::start_shared(2);
        let env = TmEnv::new(t, conf);
        std::fs::create_dir_all(lab.ds_root().join("0")).unwrap();
        std::fs::create_dir_all(lab.ds_root().join("1")).unwrap();
        Fx {
            lab,
            env,
            host: "lab1".into(),
        }
    }

    /// How error messages name the host.
    pub fn label(&self) -> &str {
        &self.host
    }

    /// `ds_root/<rel>` as a string.
    pub fn p(&self, rel: &str) -> String {
        self.lab.ds_root().join(rel).to_str().unwrap().to_string()
    }

    /// `<host>:<path>`
    pub fn at(&self, path: &str) -> String {
        format!("{}:{path}", self.host)
    }

    pub fn vm(&self, vm: &Vm) {
        self.env.set_vm(vm.id, &vm.xml());
    }

    pub fn run(&self, action: &str, args: &[&str]) -> Output {
        self.env.run(&self.lab, "shared", action, args, b"")
    }

    pub fn ok(&self, action: &str, args: &[&str]) -> Output {
        self.env.run_ok(&self.lab, "shared", action, args)
    }

    /// Fails with exactly one plain reason line, which is returned.
    pub fn fail(&self, action: &str, args: &[&str]) -> String {
        let out = self.env.run_fail(&self.lab, "shared", action, args);
        let r = reason(&out);
        assert_eq!(r.len(), 1, "{}", evidence("shared", action, args, &out));
        r[0].clone()
    }

    /// Runs `argv` on the host (in its namespace), panicking unless it succeeds.
    pub fn on_host(&self, argv: &[&str]) -> String {
        let out = if self.host == "localhost" {
            std::process::Command::new(argv[0])
                .args(&argv[1..])
                .output()
                .unwrap()
        } else {
            self.lab.run_on(&self.host, argv)
        };
        assert!(
            out.status.success(),
            "{argv:?} on {}: {}\n{}",
            self.host,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `qemu-img info --backing-chain` on the host: one object per file.
    pub fn chain(&self, path: &str) -> Vec<Value> {
        let out = self.on_host(&[
            "qemu-img",
            "info",
            "-U",
            "--output=json",
            "--backing-chain",
            path,
        ]);
        match serde_json::from_str(&out).unwrap() {
            Value::Array(a) => a,
            v => panic!("not a chain: {v}"),
        }
    }

    /// (format, backing-filename) of every file of the chain, top first.
    pub fn chain_summary(&self, path: &str) -> Vec<(String, Option<String>)> {
        self.chain(path)
            .iter()
            .map(|i| {
                (
                    i["format"].as_str().unwrap().to_string(),
                    i.get("backing-filename")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                )
            })
            .collect()
    }

    pub fn virtual_size(&self, path: &str) -> u64 {
        self.chain(path)[0]["virtual-size"].as_u64().unwrap()
    }

    /// `qemu-img check` finds no error.
    pub fn check(&self, path: &str) {
        self.on_host(&["qemu-img", "check", "-q", "-U", path]);
    }

    /// Writes `pattern` (e.g. 0xab) at `offset` with qemu-io.
    pub fn write(&self, path: &str, fmt: &str, pattern: &str, offset: &str, len: &str) {
        let c = format!("write -P {pattern} {offset} {len}");
        self.on_host(&["qemu-io", "-f", fmt, "-c", &c, path]);
    }

    /// True when `len` bytes at `offset` all hold `pattern`.
    pub fn reads(&self, path: &str, fmt: &str, pattern: &str, offset: &str, len: &str) -> bool {
        let c = format!("read -P {pattern} {offset} {len}");
        let argv = ["qemu-io", "-r", "-U", "-f", fmt, "-c", c.as_str(), path];
        let out = if self.host == "localhost" {
            std::process::Command::new(argv[0])
                .args(&argv[1..])
                .output()
                .unwrap()
        } else {
            self.lab.run_on(&self.host, &argv)
        };
        let text = String::from_utf8_lossy(&out.stdout);
        out.status.success() && !text.contains("verification failed") && text.contains("read ")
    }

    /// A raw image of `size` bytes with `data` bytes of 0xcd at the start.
    pub fn raw_image(&self, rel: &str, size: u64, data: u64) -> String {
        self.image(rel, "raw", size, data)
    }

    pub fn qcow2_image(&self, rel: &str, size: u64, data: u64) -> String {
        self.image(rel, "qcow2", size, data)
    }

    fn image(&self, rel: &str, fmt: &str, size: u64, data: u64) -> String {
        let p = self.p(rel);
        crate::common::cmd::run_ok(std::process::Command::new("qemu-img").args([
            "create",
            "-q",
            "-f",
            fmt,
            &p,
            &size.to_string(),
        ]));
        if data > 0 {
            let c = format!("write -P 0xcd 0 {data}");
            crate::common::cmd::run_ok(
                std::process::Command::new("qemu-io").args(["-f", fmt, "-c", &c, &p]),
            );
        }
        p
    }
}

pub fn link(p: &str) -> String {
    std::fs::read_link(p)
        .unwrap_or_else(|e| panic!("{p} is not a link: {e}"))
        .to_str()
        .unwrap()
        .to_string()
}

pub fn is_link(p: &str) -> bool {
    std::fs::symlink_metadata(p)
        .map(|m| m.file_type().is_symlink())
        .unwrap_or(false)
}

pub fn is_file(p: &str) -> bool {
    std::fs::symlink_metadata(p)
        .map(|m| m.file_type().is_file())
        .unwrap_or(false)
}

pub fn exists(p: &str) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

/// Allocated bytes of a file (following links).
pub fn allocated(p: &str) -> u64 {
    std::fs::metadata(p).unwrap().blocks() * 512
}

/// The names in a directory, sorted.
pub fn names(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(Path::new(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub fn path_buf(p: &str) -> PathBuf {
    PathBuf::from(p)
}
