//! cp <image_id>  (DS_DRIVER_ACTION_DATA on stdin, or <base64> <image_id>)
//!
//! Registers IMAGE/PATH (a local file or an http(s) URL) in the datastore and
//! prints `<BASE_PATH>/<hash> <format>`. The bytes flow through one pipeline
//! (source, bandwidth cap, checksums, decompression) into one of two sinks:
//! a sparse file on the front-end, or `dd` on the BRIDGE_LIST host. Then, on
//! that host: format detection, the outside-reference check, the optional
//! conversion to DRIVER, and the rename to the final name. The image is
//! written under a temporary name in BASE_PATH and removed on any failure.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::checksum::Expected;
use super::ctx::{new_image_path, FsCtx};
use super::imginfo::{info_cmd, ImageInfo};
use super::source::{Source, StreamSettings};
use super::sparse::SparseWriter;
use super::stream::Pipeline;
use crate::command::Cmd;
use crate::config::Config;
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::tools;
use crate::transport::{Host, Io};

/// Everything cp needs, read from the dump and the configuration.
pub struct CpArgs {
    pub id: String,
    pub src: Source,
    pub base: PathBuf,
    pub expected: Expected,
    pub stream: StreamSettings,
    /// The format to convert to (DRIVER, when CONVERT applies).
    pub convert_to: Option<String>,
    pub sparse: bool,
    pub dd_block: String,
}

impl CpArgs {
    pub fn from_ctx(ctx: &FsCtx) -> Result<CpArgs> {
        let image = ctx.image()?;
        let ds = ctx.datastore()?;
        let base = ctx.base_path()?;
        let src = Source::parse(image.require("PATH")?)?;
        let files_ds = ds.get("TYPE") == Some("2");
        let cdrom = matches!(image.get("TYPE"), Some("1" | "CDROM"));
        let conf = &ctx.conf;
        let convert = conf.flag("CONVERT", true)? && !cdrom && !files_ds;
        let driver = conf.get("DRIVER").map(|d| d.trim().to_ascii_lowercase());
        Ok(CpArgs {
            id: ctx.id().to_string(),
            src,
            base,
            expected: Expected::from_image(image)?,
            stream: StreamSettings::from_conf(conf, files_ds)?,
            convert_to: driver.filter(|d| convert && (d == "qcow2" || d == "raw")),
            sparse: conf.flag("SPARSE", true)?,
            dd_block: dd_block(conf)?,
        })
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    let mut ctx = FsCtx::load(inv)?;
    let args = CpArgs::from_ctx(&ctx)?;
    let mut pipe = Pipeline::open(&args.src, &args.stream, args.expected.clone())?;
    let bridge = ctx.bridge(ctx.image_key())?;
    let host = ctx.host(bridge.as_deref()).map_err(|e| {
        let b = bridge.as_deref().unwrap_or_default();
        e.context(format!(
            "Cannot reach {b}, the bridge chosen from BRIDGE_LIST"
        ))
    })?;
    copy(host, &args, &mut pipe)
}

/// Writes the stream as a new image on `host`; returns `<path> <format>`.
pub fn copy(host: &mut Host, a: &CpArgs, pipe: &mut Pipeline) -> Result<String> {
    let on = host.label();
    host.run(&tools::MKDIR.cmd().arg("-p").arg(path(&a.base)))
        .map_err(|e| e.context(format!("Cannot create {} on {on}", a.base.display())))?;
    let dst = {
        let cell = RefCell::new(&mut *host);
        new_image_path(&a.base, &a.id, |p| exists(&mut cell.borrow_mut(), p))
    };
    let tmp = with_suffix(&dst, "part");
    let conv = with_suffix(&dst, "conv");
    let done = write(host, a, pipe, &tmp).and_then(|()| finalize(host, a, &tmp, &conv, &dst));
    match done {
        Ok(format) => Ok(format!("{} {format}", dst.display())),
        Err(e) => {
            let rm = tools::RM.cmd().arg("-f").arg(path(&tmp)).arg(path(&conv));
            match host.run(&rm) {
                Ok(_) => Err(e),
                Err(r) => Err(Error::Rollback {
                    cause: Box::new(e),
                    rollback: Box::new(
                        r.context(format!("Cannot remove {} on {on}", tmp.display())),
                    ),
                }),
            }
        }
    }
}

/// One pipeline, two sinks: a sparse file here, or `dd` on the bridge.
fn write(host: &mut Host, a: &CpArgs, pipe: &mut Pipeline, tmp: &Path) -> Result<()> {
    let written = if host.is_local() {
        write_local(a, pipe, tmp)
    } else {
        let on = host.label();
        host.run_io(
            &dd_cmd(a, tmp),
            Io {
                stdin: Some(pipe.into()),
                stdout: None,
            },
        )
        .map(drop)
        .map_err(|e| e.context(format!("Cannot write {} on {on}", tmp.display())))
    };
    // A broken source is the cause, whatever the sink then said.
    if let Some(e) = pipe.take_failure() {
        return Err(e);
    }
    written?;
    pipe.finish()
}

fn write_local(a: &CpArgs, pipe: &mut Pipeline, tmp: &Path) -> Result<()> {
    let failed = |e| Error::io(format!("Cannot write {}", tmp.display()), e);
    let _ = std::fs::remove_file(tmp);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(failed)?;
    let mut w = SparseWriter::new(file, a.sparse);
    std::io::copy(pipe, &mut w).map_err(failed)?;
    w.finish().map_err(failed)?;
    Ok(())
}

/// The receiver at the far end: writes sparse (the zeros still cross the
/// wire) and syncs before the rename.
fn dd_cmd(a: &CpArgs, tmp: &Path) -> Cmd {
    let conv = if a.sparse {
        "conv=sparse,fsync"
    } else {
        "conv=fsync"
    };
    tools::DD.cmd().args([
        format!("of={}", path(tmp)),
        format!("bs={}", a.dd_block),
        "iflag=fullblock".to_string(),
        conv.to_string(),
        "status=none".to_string(),
    ])
}

/// Format, references, optional conversion, rename; the same commands on
/// the front-end and on a bridge.
fn finalize(host: &mut Host, a: &CpArgs, tmp: &Path, conv: &Path, dst: &Path) -> Result<String> {
    let on = host.label();
    let info = host
        .run_stdout(&info_cmd(&tmp.to_string_lossy()))
        .and_then(|json| ImageInfo::parse(&json))
        .map_err(|e| {
            e.context(format!(
                "Cannot tell the format of the image copied from {}",
                a.src
            ))
        })?;
    info.check_references(tmp, &a.base, &a.src.to_string())?;
    let mut file = tmp;
    let mut format = info.reported_format().to_string();
    if let Some(d) = a
        .convert_to
        .as_deref()
        .filter(|d| *d != info.format && info.format != "luks")
    {
        log::info!(
            "Converting {} from {} to {d} (DRIVER={d})",
            a.src,
            info.format
        );
        let mut c = tools::QEMU_IMG
            .cmd()
            .args(["convert", "-f", &info.format, "-O", d]);
        if !a.sparse {
            c = c.args(["-S", "0"]);
        }
        host.run(&c.arg(path(tmp)).arg(path(conv))).map_err(|e| {
            e.context(format!(
                "Cannot convert the image copied from {} to {d} on {on}",
                a.src
            ))
        })?;
        file = conv;
        format = d.to_string();
    }
    host.run(&tools::MV.cmd().arg("-f").arg(path(file)).arg(path(dst)))
        .map_err(|e| {
            e.context(format!(
                "Cannot move the new image to {} on {on}",
                dst.display()
            ))
        })?;
    if file != tmp {
        if let Err(e) = host.run(&tools::RM.cmd().arg("-f").arg(path(tmp))) {
            log::error!("cannot remove {} on {on}: {}", tmp.display(), e.summary());
        }
    }
    Ok(format)
}

fn exists(host: &mut Host, p: &Path) -> bool {
    let c = tools::TEST.cmd().arg("-e").arg(path(p));
    host.output(&c).is_ok_and(|o| o.status.success())
}

/// `<dst>.<what>-<pid>`: unique per run, in the destination directory so
/// that the final rename never crosses a filesystem.
fn with_suffix(dst: &Path, what: &str) -> PathBuf {
    let mut s = dst.as_os_str().to_owned();
    s.push(format!(".{what}-{}", std::process::id()));
    PathBuf::from(s)
}

fn path(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// DD_BLOCK_SIZE (fs.conf, default 64k): dd's block size on a bridge.
fn dd_block(conf: &Config) -> Result<String> {
    let v = conf.get_or("DD_BLOCK_SIZE", "64k").trim().to_string();
    let digits = v.trim_end_matches(['k', 'K', 'M', 'G']);
    if digits.is_empty()
        || !digits.chars().all(|c| c.is_ascii_digit())
        || v.len() - digits.len() > 1
    {
        return Err(conf.invalid("DD_BLOCK_SIZE", "a dd block size such as 64k or 1M"));
    }
    Ok(v)
}
