//! A datastore in a temporary directory, its remotes tree (one symlink per
//! fs action, as oned calls them), a builder for DS_DRIVER_ACTION_DATA, and
//! loud helpers: a failing assertion prints the command, the dump, stdout,
//! stderr and a listing of every file the test made.

#![allow(dead_code)]

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;

pub const ACTIONS: &[&str] = &[
    "mkfs",
    "rm",
    "clone",
    "monitor",
    "snap_delete",
    "snap_revert",
    "snap_flatten",
    "export",
];

/// `<tmp>/remotes/{datastore/fs/<action>, etc/datastore/fs/fs.conf}` and a
/// datastore directory `<tmp>/ds/100` (BASE_PATH, not created).
pub struct Ds {
    pub tmp: tempfile::TempDir,
    pub remotes: PathBuf,
    pub base: PathBuf,
}

impl Ds {
    pub fn new() -> Ds {
        let tmp = tempfile::tempdir().unwrap();
        let remotes = tmp.path().join("remotes");
        let dir = remotes.join("datastore/fs");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(remotes.join("etc/datastore/fs")).unwrap();
        for a in ACTIONS {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_one-storage"), dir.join(a)).unwrap();
        }
        let base = tmp.path().join("ds/100");
        Ds { tmp, remotes, base }
    }

    /// The same, with BASE_PATH elsewhere (e.g. under the lab's ds_root).
    pub fn with_base(base: PathBuf) -> Ds {
        Ds { base, ..Ds::new() }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn base_str(&self) -> &str {
        self.base.to_str().unwrap()
    }

    /// Appends lines to the driver's fs.conf.
    pub fn conf(&self, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.remotes.join("etc/datastore/fs/fs.conf"))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    /// A fake `onehost` CLI running `body` (sh), named by ONEHOST in fs.conf.
    pub fn fake_onehost(&self, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path("onehost");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        self.conf(&format!("ONEHOST={}\n", p.display()));
    }

    pub fn action(&self, name: &str) -> PathBuf {
        self.remotes.join("datastore/fs").join(name)
    }

    /// A `Dump` for this datastore.
    pub fn dump(&self) -> Dump {
        Dump::new(&self.base)
    }

    /// Runs `<remotes>/datastore/fs/<action> <id>` with the dump on stdin.
    pub fn run(&self, action: &str, id: &str, dump: &Dump) -> Run {
        self.run_cmd(Command::new(self.action(action)), id, dump)
    }

    /// Runs a prepared command (e.g. the lab's front-end command).
    pub fn run_cmd(&self, mut cmd: Command, id: &str, dump: &Dump) -> Run {
        cmd.arg(id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = format!("{cmd:?}");
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(dump.b64().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            evidence: format!(
                "command: {shown}\ndump: {}\nfiles:\n{}",
                dump.xml(),
                listing(self.tmp.path())
            ),
        }
    }

    /// The names in BASE_PATH (none when it does not exist).
    pub fn base_names(&self) -> Vec<String> {
        names(&self.base)
    }
}

pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Every file under `dir` with its type and size, for failure messages.
pub fn listing(dir: &Path) -> String {
    let mut out = String::new();
    fn walk(d: &Path, out: &mut String) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        let mut es: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
        es.sort();
        for p in es {
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.file_type().is_symlink() {
                let t = std::fs::read_link(&p).unwrap();
                out.push_str(&format!("  {} -> {}\n", p.display(), t.display()));
            } else if m.is_dir() {
                out.push_str(&format!("  {}/\n", p.display()));
                if !p.ends_with("remotes") {
                    walk(&p, out);
                }
            } else {
                out.push_str(&format!("  {} ({} bytes)\n", p.display(), m.len()));
            }
        }
    }
    walk(dir, &mut out);
    out
}

pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub evidence: String,
}

impl Run {
    fn show(&self) -> String {
        format!(
            "exit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- {}",
            self.code, self.stdout, self.stderr, self.evidence
        )
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "expected success\n{}", self.show());
        &self.stdout
    }

    /// Asserts exit 1 with empty stdout and returns the failure line (the
    /// last stderr line, the one oned keeps), checking it says `what`.
    pub fn fails_with(&self, what: &str) -> String {
        assert_eq!(self.code, Some(1), "expected failure\n{}", self.show());
        assert_eq!(
            self.stdout,
            "",
            "a failure prints nothing on stdout\n{}",
            self.show()
        );
        let last = self.stderr.lines().last().unwrap_or("").to_string();
        assert!(
            last.contains(what),
            "the failure line lacks '{what}'\n{}",
            self.show()
        );
        last
    }
}

/// DS_DRIVER_ACTION_DATA: IMAGE, DATASTORE (with TEMPLATE) and top-level
/// elements, every value in CDATA.
#[derive(Debug, Clone)]
pub struct Dump {
    image: Vec<(String, String)>,
    ds: Vec<(String, String)>,
    ds_tpl: Vec<(String, String)>,
    top: Vec<(String, String)>,
}

impl Dump {
    pub fn new(base: &Path) -> Dump {
        let kv = |a: &[(&str, &str)]| {
            a.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        Dump {
            image: kv(&[("ID", "7")]),
            ds: kv(&[
                ("ID", "100"),
                ("TYPE", "0"),
                ("DS_MAD", "fs"),
                ("TM_MAD", "ssh"),
                ("BASE_PATH", base.to_str().unwrap()),
            ]),
            ds_tpl: Vec::new(),
            top: Vec::new(),
        }
    }

    fn set(v: &mut Vec<(String, String)>, k: &str, val: &str) {
        v.retain(|(key, _)| key != k);
        v.push((k.to_string(), val.to_string()));
    }

    pub fn image(mut self, k: &str, v: &str) -> Dump {
        Dump::set(&mut self.image, k, v);
        self
    }
    pub fn ds(mut self, k: &str, v: &str) -> Dump {
        Dump::set(&mut self.ds, k, v);
        self
    }
    pub fn ds_tpl(mut self, k: &str, v: &str) -> Dump {
        Dump::set(&mut self.ds_tpl, k, v);
        self
    }
    pub fn top(mut self, k: &str, v: &str) -> Dump {
        Dump::set(&mut self.top, k, v);
        self
    }

    pub fn xml(&self) -> String {
        let els = |v: &[(String, String)]| -> String {
            v.iter()
                .map(|(k, val)| {
                    format!(
                        "<{k}><![CDATA[{}]]></{k}>",
                        val.replace("]]>", "]]]]><![CDATA[>")
                    )
                })
                .collect()
        };
        format!(
            "<DS_DRIVER_ACTION_DATA><IMAGE>{}<TEMPLATE/></IMAGE><DATASTORE>{}<TEMPLATE>{}</TEMPLATE></DATASTORE>{}</DS_DRIVER_ACTION_DATA>",
            els(&self.image),
            els(&self.ds),
            els(&self.ds_tpl),
            els(&self.top)
        )
    }

    pub fn b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.xml())
    }
}

/// Runs a program and returns stdout, panicking with its stderr.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn qemu_img(args: &[&str]) -> String {
    sh("qemu-img", args)
}

/// `qemu-img info --output=json` of a file.
pub fn info(path: &Path) -> serde_json::Value {
    let out = qemu_img(&["info", "-U", "--output=json", path.to_str().unwrap()]);
    serde_json::from_str(&out).unwrap()
}

pub fn format_of(path: &Path) -> String {
    info(path)["format"].as_str().unwrap().to_string()
}

pub fn virtual_size(path: &Path) -> u64 {
    info(path)["virtual-size"].as_u64().unwrap()
}

/// Bytes really allocated on disk.
pub fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// Writes `len` bytes of `byte` at `offset` of an image through qemu-io.
pub fn write_pattern(path: &Path, format: &str, byte: u8, offset: u64, len: u64) {
    let c = format!("write -P {byte} {offset} {len}");
    sh("qemu-io", &["-f", format, "-c", &c, path.to_str().unwrap()]);
}

/// True when the image reads back `byte` over the range.
pub fn reads_pattern(path: &Path, format: &str, byte: u8, offset: u64, len: u64) -> bool {
    let c = format!("read -P {byte} {offset} {len}");
    let out = Command::new("qemu-io")
        .args(["-r", "-U", "-f", format, "-c", &c, path.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && !text.contains("verification failed")
}
