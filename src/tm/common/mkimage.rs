//! mkimage <size_mb> <format> <host:DST> <vm_id> <ds_id>; mkswap <size_mb> <host:DST> <vm_id> <ds_id>
//!
//! Creates a volatile disk on the host: an empty raw or qcow2 image, one with
//! a file system (the disk's `FS`, checked against SUPPORTED_FS before
//! anything runs), or a swap area. Everything happens in one host script that
//! builds the image under a hidden temporary name beside DST and renames it
//! over DST at the end, so DST is either the old file or the complete new
//! one; the temporaries are removed on any failure. Re-running overwrites.

use crate::command::{quote, Cmd, Script};
use crate::config::Config;
use crate::dispatch::Invocation;
use crate::dump::Element;
use crate::error::{Error, Result};
use crate::tm::args::{expect_args, Location};
use crate::tm::ctx::TmCtx;
use crate::tools::{MKDIR, MKFS, MKFS_XFS, MKSWAP, MV, QEMU_IMG};

use super::{check_script, id, size_mb, temp_path};

/// The image formats oned asks for (FORMAT of a volatile disk, or swap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
    Swap,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format> {
        match s.trim().to_ascii_lowercase().as_str() {
            "raw" => Ok(Format::Raw),
            "qcow2" => Ok(Format::Qcow2),
            "swap" => Ok(Format::Swap),
            _ => Err(Error::Input(format!(
                "format '{s}' is not supported for a volatile disk: use raw, qcow2 or swap \
                 (FORMAT of the disk)"
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Swap => "swap",
        }
    }
}

/// Everything the host script needs, decided on the front-end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkImage {
    pub dst: Location,
    pub size_mb: u64,
    pub format: Format,
    /// A file system from SUPPORTED_FS, and its FS_OPTS_<fs> words.
    pub fs: Option<String>,
    pub fs_opts: Vec<String>,
    /// QCOW2_OPTIONS words, added when the image is qcow2.
    pub qcow2_opts: Vec<String>,
    /// SPARSE=no on the disk: allocate every block now.
    pub preallocate: bool,
}

pub fn mkimage(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 5, 5)?;
    let size = size_mb(&inv.args[0])?;
    let format = Format::parse(&inv.args[1])?;
    let dst = Location::parse(&inv.args[2])?;
    let vm_id = id(&inv.args[3], "vm_id")?;
    id(&inv.args[4], "ds_id")?;
    make(inv, size, format, dst, &vm_id)
}

pub fn mkswap(inv: &mut Invocation) -> Result<String> {
    expect_args(&inv.args, 4, 4)?;
    let size = size_mb(&inv.args[0])?;
    let dst = Location::parse(&inv.args[1])?;
    let vm_id = id(&inv.args[2], "vm_id")?;
    id(&inv.args[3], "ds_id")?;
    make(inv, size, Format::Swap, dst, &vm_id)
}

fn make(
    inv: &Invocation,
    size_mb: u64,
    format: Format,
    dst: Location,
    vm_id: &str,
) -> Result<String> {
    let disk_id = dst.disk_id().ok_or_else(|| {
        Error::Usage(format!(
            "'{dst}' is not a disk path: expected host:<vm dir>/disk.<disk id>"
        ))
    })?;
    let mut ctx = TmCtx::for_invocation(inv, &[])?;
    let disk = ctx.disk(vm_id, disk_id)?.unwrap_or_else(|| Element {
        name: "DISK".into(),
        text: String::new(),
        children: Vec::new(),
    });
    let plan = MkImage::plan(&ctx.conf, &disk, dst, size_mb, format)?;
    log::info!("{}", plan.describe());
    let cmd = plan.script(&temp_path(&plan.dst));
    let mut what = format!("cannot create the {} image {}", format.name(), plan.dst);
    if let (Some(fs), false) = (&plan.fs, plan.fs_opts.is_empty()) {
        let key = format!("FS_OPTS_{fs}");
        let origin = ctx
            .conf
            .origin(&key)
            .map(|o| o.describe())
            .unwrap_or_default();
        what.push_str(&format!(
            " (mkfs options {key}='{}' from {origin})",
            plan.fs_opts.join(" ")
        ));
    }
    let host = ctx.host(&plan.dst)?;
    let out = host.output(&cmd)?;
    check_script(host, &cmd, out, &what)?;
    Ok(String::new())
}

impl MkImage {
    /// Reads FS and SPARSE from the disk and the options from the conf;
    /// refuses an FS that SUPPORTED_FS does not list.
    pub fn plan(
        conf: &Config,
        disk: &Element,
        dst: Location,
        size_mb: u64,
        format: Format,
    ) -> Result<MkImage> {
        // A swap area is never formatted with a file system.
        let fs = match format {
            Format::Swap => None,
            _ => disk.get("FS").map(|fs| checked_fs(conf, fs)).transpose()?,
        };
        let fs_opts = fs
            .as_ref()
            .map(|f| words(conf.get(&format!("FS_OPTS_{f}"))))
            .unwrap_or_default();
        let preallocate = disk
            .get("SPARSE")
            .is_some_and(|s| s.eq_ignore_ascii_case("no"));
        Ok(MkImage {
            dst,
            size_mb,
            format,
            fs,
            fs_opts,
            qcow2_opts: words(conf.get("QCOW2_OPTIONS")),
            preallocate,
        })
    }

    fn describe(&self) -> String {
        let fs = self
            .fs
            .as_deref()
            .map(|f| format!(" with {f}"))
            .unwrap_or_default();
        let pre = if self.preallocate {
            ", preallocated"
        } else {
            ""
        };
        format!(
            "making a {} MB {} image{fs}{pre} at {}",
            self.size_mb,
            self.format.name(),
            self.dst
        )
    }

    /// The host script: build at `tmp` (and `tmp.raw` when a file system is
    /// converted to qcow2), then `mv -fT` over DST.
    pub fn script(&self, tmp: &str) -> Cmd {
        let raw = format!("{tmp}.raw");
        let size = format!("{}M", self.size_mb);
        let mut s = Script::new()
            .raw("export PATH=\"/usr/sbin:/sbin:$PATH\"")
            .line(format!("tmp={} raw={}", quote(tmp), quote(&raw)))
            .raw(r#"trap 'rm -f -- "$tmp" "$raw"' EXIT"#)
            .cmd(&MKDIR.cmd().args(["-p", "--", &self.dst.dir()]));
        let create = |fmt: &str, path: &str| {
            let mut c = QEMU_IMG.cmd().args(["create", "-f", fmt]);
            if self.preallocate {
                c = c.args(["-o", "preallocation=falloc"]);
            }
            if fmt == "qcow2" {
                c = c.args(&self.qcow2_opts);
            }
            c.args([path, size.as_str()])
        };
        match (self.format, &self.fs) {
            (Format::Swap, _) => {
                s = s.cmd(&create("raw", tmp));
                s = s.cmd(&MKSWAP.cmd().args(["-L", "swap", tmp]));
            }
            (Format::Raw, None) => s = s.cmd(&create("raw", tmp)),
            (Format::Qcow2, None) => s = s.cmd(&create("qcow2", tmp)),
            (Format::Raw, Some(fs)) => {
                s = s.cmd(&create("raw", tmp));
                s = s.cmd(&self.mkfs(fs, tmp));
            }
            (Format::Qcow2, Some(fs)) => {
                s = s.cmd(&create("raw", &raw));
                s = s.cmd(&self.mkfs(fs, &raw));
                let mut convert = QEMU_IMG.cmd().args(["convert", "-f", "raw", "-O", "qcow2"]);
                if self.preallocate {
                    convert = convert.args(["-o", "preallocation=falloc"]);
                }
                s = s.cmd(&convert.args(&self.qcow2_opts).args([raw.as_str(), tmp]));
            }
        }
        s.cmd(&MV.cmd().args(["-fT", "--", tmp, &self.dst.path]))
            .into_cmd()
    }

    /// `mkfs.xfs -f` or `mkfs -t <fs>` (`-F` for ext*, which asks before
    /// writing to a regular file otherwise). With preallocation, discard is
    /// off: it would punch the allocated blocks out of the file again.
    fn mkfs(&self, fs: &str, path: &str) -> Cmd {
        let ext = fs.starts_with("ext");
        let mut c = if fs == "xfs" {
            MKFS_XFS.cmd().arg("-f")
        } else {
            MKFS.cmd().args(["-t", fs])
        };
        if ext {
            c = c.arg("-F");
        }
        if self.preallocate && fs == "xfs" {
            c = c.arg("-K");
        } else if self.preallocate && ext {
            c = c.args(["-E", "nodiscard"]);
        }
        c.args(&self.fs_opts).arg(path)
    }
}

/// The disk's FS if SUPPORTED_FS lists it; checked before it is used anywhere.
fn checked_fs(conf: &Config, fs: &str) -> Result<String> {
    let supported: Vec<&str> = conf
        .get("SUPPORTED_FS")
        .unwrap_or("")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect();
    let plain = fs.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain && supported.contains(&fs) {
        return Ok(fs.to_string());
    }
    let origin = conf
        .origin("SUPPORTED_FS")
        .map(|o| o.describe())
        .unwrap_or_else(|| "the built-in default".to_string());
    Err(Error::Input(format!(
        "file system '{fs}' (FS of the disk) is not supported: use one of {} \
         or add it to SUPPORTED_FS (set in {origin})",
        supported.join(", ")
    )))
}

/// A conf value as words (never through a shell).
fn words(v: Option<&str>) -> Vec<String> {
    v.unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[path = "mkimage_tests.rs"]
mod tests;
