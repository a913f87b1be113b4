//! Test support for the fs cp/stat tests: a remotes tree whose action
//! paths are real symlinks to the binary (as oned runs it), action dumps
//! built like oned's, and runs whose failures print all the evidence.

#![allow(dead_code)]

pub mod http;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use base64::Engine;

pub const BIN: &str = env!("CARGO_BIN_EXE_one-storage");

/// A scratch directory with `remotes/datastore/fs/<action>` symlinks.
pub struct Fs {
    pub dir: tempfile::TempDir,
    pub remotes: PathBuf,
}

impl Fs {
    pub fn new() -> Fs {
        let dir = tempfile::tempdir().unwrap();
        let remotes = dir.path().join("remotes");
        let fs_dir = remotes.join("datastore/fs");
        std::fs::create_dir_all(&fs_dir).unwrap();
        for a in ["cp", "stat"] {
            std::os::unix::fs::symlink(BIN, fs_dir.join(a)).unwrap();
        }
        Fs { dir, remotes }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `remotes/etc/datastore/fs/fs.conf`.
    pub fn conf(&self, text: &str) {
        let p = self.remotes.join("etc/datastore/fs/fs.conf");
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn command(&self, action: &str) -> Command {
        let mut c = Command::new(self.remotes.join("datastore/fs").join(action));
        c.env_remove("ONE_LOCATION")
            .env_remove("RUST_LOG")
            .env("ONE_STORAGE_LOG", "info")
            .env("NO_PROXY", "*")
            .current_dir(self.dir.path());
        c
    }

    /// `<action> <id>` with the base64 dump on stdin, as oned 6.8+ runs it.
    pub fn run(&self, action: &str, id: &str, b64: &str) -> Out {
        let mut c = self.command(action);
        c.arg(id);
        Out::of(&mut c, Some(b64.as_bytes()))
    }

    /// `<action> <base64> <id>`, as older releases run it.
    pub fn run_argv(&self, action: &str, b64: &str, id: &str) -> Out {
        let mut c = self.command(action);
        c.arg(b64).arg(id);
        Out::of(&mut c, None)
    }
}

pub struct Out {
    pub what: String,
    pub out: Output,
    pub elapsed: std::time::Duration,
}

impl Out {
    pub fn of(c: &mut Command, stdin: Option<&[u8]>) -> Out {
        let what = format!("{c:?}");
        let start = std::time::Instant::now();
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        let mut sin = child.stdin.take().unwrap();
        if let Some(data) = stdin {
            sin.write_all(data).unwrap();
        }
        drop(sin);
        let out = child.wait_with_output().unwrap();
        Out {
            what,
            out,
            elapsed: start.elapsed(),
        }
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn evidence(&self) -> String {
        format!(
            "command: {}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            self.out.status,
            self.stdout(),
            self.stderr()
        )
    }

    /// Asserts success with one stdout line and no failure line; returns it.
    pub fn success(&self) -> String {
        assert!(
            self.out.status.success(),
            "expected success\n{}",
            self.evidence()
        );
        let lines: Vec<&str> = self
            .out
            .stdout
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "expected one stdout line\n{}",
            self.evidence()
        );
        assert!(
            self.error_lines().is_empty(),
            "unexpected error line\n{}",
            self.evidence()
        );
        lines[0].to_string()
    }

    /// stderr lines that are not oned log lines.
    pub fn error_lines(&self) -> Vec<String> {
        self.stderr()
            .lines()
            .filter(|l| {
                !["INFO:", "ERROR:", "DEBUG:", "WARN:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(str::to_string)
            .collect()
    }

    /// Asserts failure: non-zero exit, empty stdout, exactly one non-log
    /// stderr line (the FAILURE text oned stores); returns that line.
    pub fn failure(&self) -> String {
        assert!(
            !self.out.status.success(),
            "expected failure\n{}",
            self.evidence()
        );
        assert_ne!(self.out.status.code(), Some(42), "{}", self.evidence());
        assert!(
            self.out.stdout.is_empty(),
            "stdout on failure\n{}",
            self.evidence()
        );
        let lines = self.error_lines();
        assert_eq!(
            lines.len(),
            1,
            "expected one error line\n{}",
            self.evidence()
        );
        lines[0].clone()
    }

    /// Asserts failure with a line containing every `needle`.
    pub fn fails_with(&self, needles: &[&str]) -> String {
        let line = self.failure();
        for n in needles {
            assert!(
                line.contains(n),
                "error line lacks {n:?}: {line}\n{}",
                self.evidence()
            );
        }
        line
    }
}

/// An action dump built the way oned prints it (template values in CDATA,
/// or as plain escaped text with `plain`).
#[derive(Clone)]
pub struct Dump {
    image: Vec<(String, String)>,
    image_tmpl: Vec<(String, String)>,
    ds: Vec<(String, String)>,
    ds_tmpl: Vec<(String, String, bool)>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Dump {
    /// Image 7 (TYPE OS) with PATH, datastore 1 (image DS) at `base`,
    /// with SAFE_DIRS=/tmp and RESTRICTED_DIRS=/ as oned defaults them.
    pub fn new(path: &str, base: &Path) -> Dump {
        Dump {
            image: vec![
                ("ID".into(), "7".into()),
                ("TYPE".into(), "0".into()),
                ("PATH".into(), path.into()),
            ],
            image_tmpl: vec![],
            ds: vec![
                ("ID".into(), "1".into()),
                ("DS_MAD".into(), "fs".into()),
                ("TM_MAD".into(), "shared".into()),
                ("BASE_PATH".into(), base.to_string_lossy().into()),
                ("TYPE".into(), "0".into()),
            ],
            ds_tmpl: vec![
                (
                    "SAFE_DIRS".into(),
                    std::env::temp_dir().to_string_lossy().into(),
                    true,
                ),
                ("RESTRICTED_DIRS".into(), "/".into(), true),
            ],
        }
    }

    fn set(v: &mut Vec<(String, String)>, k: &str, val: &str) {
        v.retain(|(kk, _)| kk != k);
        v.push((k.into(), val.into()));
    }

    pub fn image(mut self, k: &str, v: &str) -> Dump {
        Self::set(&mut self.image, k, v);
        self
    }
    pub fn image_tmpl(mut self, k: &str, v: &str) -> Dump {
        Self::set(&mut self.image_tmpl, k, v);
        self
    }
    pub fn ds_field(mut self, k: &str, v: &str) -> Dump {
        Self::set(&mut self.ds, k, v);
        self
    }
    /// A DATASTORE/TEMPLATE attribute in CDATA.
    pub fn ds(mut self, k: &str, v: &str) -> Dump {
        self.ds_tmpl.retain(|(kk, _, _)| kk != k);
        self.ds_tmpl.push((k.into(), v.into(), true));
        self
    }
    /// A DATASTORE/TEMPLATE attribute as plain (escaped) text.
    pub fn ds_plain(mut self, k: &str, v: &str) -> Dump {
        self.ds_tmpl.retain(|(kk, _, _)| kk != k);
        self.ds_tmpl.push((k.into(), v.into(), false));
        self
    }
    pub fn without_ds_field(mut self, k: &str) -> Dump {
        self.ds.retain(|(kk, _)| kk != k);
        self
    }
    pub fn without_image_field(mut self, k: &str) -> Dump {
        self.image.retain(|(kk, _)| kk != k);
        self
    }

    pub fn xml(&self) -> String {
        let plain = |v: &[(String, String)]| -> String {
            v.iter()
                .map(|(k, x)| format!("<{k}>{}</{k}>", esc(x)))
                .collect()
        };
        let cdata = |v: &[(String, String)]| -> String {
            v.iter()
                .map(|(k, x)| format!("<{k}><![CDATA[{x}]]></{k}>"))
                .collect()
        };
        let ds_tmpl: String = self
            .ds_tmpl
            .iter()
            .map(|(k, x, c)| {
                if *c {
                    format!("<{k}><![CDATA[{x}]]></{k}>")
                } else {
                    format!("<{k}>{}</{k}>", esc(x))
                }
            })
            .collect();
        format!(
            "<DS_DRIVER_ACTION_DATA><IMAGE>{}<TEMPLATE>{}</TEMPLATE></IMAGE>\
             <DATASTORE>{}<TEMPLATE>{ds_tmpl}</TEMPLATE></DATASTORE></DS_DRIVER_ACTION_DATA>",
            plain(&self.image),
            cdata(&self.image_tmpl),
            plain(&self.ds),
        )
    }

    pub fn b64(&self) -> String {
        b64(&self.xml())
    }
}

pub fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `qemu-img info --output=json` of `p`: (format, virtual size, backing file).
pub fn qemu_info(p: &Path) -> (String, u64, Option<String>) {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qemu-img info {}: {}",
        p.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| -> Option<String> {
        let i = text.find(&format!("\n    \"{k}\": "))?;
        let rest = &text[i + k.len() + 9..];
        let v = rest.split([',', '\n']).next()?.trim();
        Some(v.trim_matches('"').to_string())
    };
    (
        field("format").unwrap(),
        field("virtual-size").unwrap().parse().unwrap(),
        field("backing-filename"),
    )
}

pub fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qemu-img {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Bytes the file really occupies.
pub fn allocated(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().blocks() * 512
}

/// The files in `dir` (none when it does not exist).
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

/// A raw image: `size` bytes, zero except a pattern in the given MiB slots.
pub fn raw_image(p: &Path, size: u64, data_mib: &[u64]) -> Vec<u8> {
    let f = std::fs::File::create(p).unwrap();
    f.set_len(size).unwrap();
    let mut pattern = vec![0u8; 1 << 20];
    for (i, b) in pattern.iter_mut().enumerate() {
        *b = (i % 251) as u8 + 1;
    }
    use std::os::unix::fs::FileExt;
    for m in data_mib {
        f.write_all_at(&pattern, m << 20).unwrap();
    }
    pattern
}

pub fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(data))
}

pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(data))
}

/// Compresses with the CLI tool (`gzip`, `xz`, `bzip2`): optimized code,
/// where the crates in a debug test build take seconds per MiB.
pub fn compress(tool: &str, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {tool}: {e}"));
    let mut sin = child.stdin.take().unwrap();
    let owned = data.to_vec();
    let feeder = std::thread::spawn(move || sin.write_all(&owned));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    compress("gzip", data)
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    compress("xz", data)
}

pub fn bzip2(data: &[u8]) -> Vec<u8> {
    compress("bzip2", data)
}

/// Whether the file name is 32 hex digits, as new images are named.
pub fn hex32(p: &Path) -> bool {
    let n = p.file_name().unwrap().to_string_lossy();
    n.len() == 32 && n.chars().all(|c| c.is_ascii_hexdigit())
}

/// Runs cp and returns the new image, checking it is alone in BASE_PATH.
pub fn cp_ok(fs: &Fs, dump: &Dump, base: &Path) -> (std::path::PathBuf, String) {
    let line = fs.run("cp", "7", &dump.b64()).success();
    let (p, format) = source_and_format(&line);
    assert_eq!(p.parent().unwrap(), base, "{line}");
    assert!(hex32(&p), "{line}");
    assert_eq!(
        files_in(base),
        vec![p.clone()],
        "only the image is left in BASE_PATH"
    );
    (p, format)
}

/// Parses cp's stdout `<path> <format>`.
pub fn source_and_format(line: &str) -> (PathBuf, String) {
    let (p, f) = line.rsplit_once(' ').expect("'<source> <format>'");
    (PathBuf::from(p), f.to_string())
}
