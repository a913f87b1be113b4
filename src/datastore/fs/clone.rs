//! clone <image_id>  (DS_DRIVER_ACTION_DATA on stdin): copy the image at
//! IMAGE/PATH (the SOURCE of the image being cloned) to a new image in this
//! datastore; prints `<new path> <format>`.
//!
//! DRIVER (qcow2|raw, datastore template) converts with `qemu-img convert`;
//! otherwise the copy keeps the format: `cp --sparse=always`, or `qemu-img
//! convert` when the source has a backing file (a plain copy would lose it).
//! The format printed is the real one (the reference printed `<path> ` with
//! an empty DRIVER; oned takes either). The copy runs where the datastore
//! is: the front-end or the BRIDGE_LIST host. With SOURCE_BRIDGE_LIST the
//! bytes stream, holes skipped, from the source bridge to the target host
//! through the front-end, one connection to each.

use std::path::Path;

use crate::datastore::fs::ctx::FsCtx;
use crate::datastore::fs::hostfs;
use crate::datastore::fs::qemu_info::{image_info, ImageInfo};
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::tools;
use crate::transport::{pipe, Host};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneArgs {
    pub base: String,
    pub source: String,
    /// `qcow2` or `raw` to convert; `None` keeps the source's format.
    pub driver: Option<String>,
    pub source_bridges: Vec<String>,
}

impl CloneArgs {
    pub fn from_ctx(ctx: &FsCtx) -> Result<CloneArgs> {
        let source = ctx.image()?.require("PATH")?.to_string();
        let driver = ctx.conf.get("DRIVER").map(str::to_string);
        let driver = driver.filter(|d| {
            let convert = d == "qcow2" || d == "raw";
            if !convert {
                log::info!("DRIVER={d} is not a conversion target (qcow2 or raw): keeping the source's format");
            }
            convert
        });
        let source_bridges = ctx.action.data.get("SOURCE_BRIDGE_LIST").unwrap_or("");
        Ok(CloneArgs {
            base: ctx.base_path()?.to_string_lossy().into_owned(),
            source,
            driver,
            source_bridges: source_bridges
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        })
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    let mut ctx = FsCtx::load(inv)?;
    let args = CloneArgs::from_ctx(&ctx)?;
    clone(&mut ctx, &args)
}

pub fn clone(ctx: &mut FsCtx, a: &CloneArgs) -> Result<String> {
    let key = ctx.image_key();
    let id = ctx.id().to_string();
    let dst_bridge = ctx.bridge(key)?;
    let src_bridge = match ctx.bridge_among(&a.source_bridges, key, "SOURCE_BRIDGE_LIST")? {
        Some(h) => Some(h),
        None => dst_bridge.clone(),
    };
    let (src_at, dst_bridge) = (
        hostfs::at(src_bridge.as_deref(), &a.source),
        dst_bridge.as_deref(),
    );
    if src_bridge.as_deref() == dst_bridge {
        let host = ctx.host(dst_bridge)?;
        let info = source_info(host, &a.source, &src_at)?;
        log::info!("Copying image {src_at} to the image repository");
        let (dst, format) = build(host, a, &id, &info, &a.source, false)?;
        return Ok(format!("{dst} {format}"));
    }
    let (src_host, dst_host) = ctx.hosts.pair(src_bridge.as_deref(), dst_bridge)?;
    let info = source_info(src_host, &a.source, &src_at)?;
    let incoming = stream(src_host, dst_host, a, &info, &src_at)?;
    let (dst, format) = build(dst_host, a, &id, &info, &incoming, true)?;
    Ok(format!("{dst} {format}"))
}

/// Copies the source file from its bridge to a temporary in BASE_PATH on
/// `dst` through the front-end: a sparse tar stream (holes are not sent),
/// renamed on the way in. Returns the temporary's path.
fn stream(
    src: &mut Host,
    dst: &mut Host,
    a: &CloneArgs,
    info: &ImageInfo,
    src_at: &str,
) -> Result<String> {
    if let Some(b) = info.backing_file() {
        return Err(Error::failed(format!(
            "cannot stream {src_at} from SOURCE_BRIDGE_LIST: it is an overlay backed by {b}; flatten it first (snap_flatten) or clone it within one host"
        )));
    }
    hostfs::make_dir(dst, &a.base)?;
    let name = name_of(&a.source);
    let incoming = hostfs::temp_name(&format!("{}/{name}", a.base), "clone-in");
    let dst_at = hostfs::at(dst.name(), &a.base);
    log::info!("Streaming {src_at} to {dst_at} through the front-end");
    let dir = Path::new(&a.source)
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let send = tools::TAR
        .cmd()
        .args([tools::TAR_RECORD, "-chSf", "-", "-C", &dir, "--", &name]);
    let receive = tools::TAR
        .cmd()
        .args([
            tools::TAR_RECORD,
            "-xf",
            "-",
            "-C",
            &a.base,
            "--no-same-owner",
        ])
        .arg(format!("--transform=s,.*,{},", name_of(&incoming)));
    hostfs::or_discard(dst, &[&incoming], |d| pipe(src, &send, d, &receive))
        .context(|| format!("Error copying {src_at} to {dst_at}"))?;
    Ok(incoming)
}

/// The source must be a file; its format decides the copy.
fn source_info(host: &mut Host, source: &str, at: &str) -> Result<ImageInfo> {
    if !hostfs::exists(host, source)? {
        return Err(Error::Input(format!(
            "cannot clone {at}: the image file does not exist (IMAGE/PATH, the SOURCE of the image being cloned)"
        )));
    }
    image_info(host, source).context(|| format!("cannot read the format of {at}"))
}

/// Makes the new image from `input` on `host`: converted or copied to a
/// temporary name, renamed to a fresh image path. `owned` inputs are our own
/// temporaries (renamed or removed); others are only read.
fn build(
    host: &mut Host,
    a: &CloneArgs,
    id: &str,
    info: &ImageInfo,
    input: &str,
    owned: bool,
) -> Result<(String, String)> {
    hostfs::make_dir(host, &a.base)?;
    let dst = hostfs::fresh_image_path(host, &a.base, id)?;
    let tmp = hostfs::temp_name(&dst, "clone");
    let detected = info.format.as_str();
    let target = match &a.driver {
        Some(d) if detected != "luks" => Some(d.as_str()),
        _ if info.backing.is_some() => Some(detected),
        _ => None,
    };
    let at = hostfs::at(host.name(), &dst);
    let mut temps = vec![tmp.as_str()];
    if owned {
        temps.push(input);
    }
    hostfs::or_discard(host, &temps, |h| {
        match (target, owned) {
            (Some(t), _) => {
                let convert = ["convert", "-q", "-f", detected, "-O", t, input, &tmp];
                h.run(&tools::QEMU_IMG.cmd().args(convert))?;
                hostfs::rename(h, &tmp, &dst)?;
                if owned {
                    hostfs::remove(h, &[input])?;
                }
            }
            (None, false) => {
                h.run(&tools::CP.cmd().args(["--sparse=always", "--", input, &tmp]))?;
                hostfs::rename(h, &tmp, &dst)?;
            }
            // Our own streamed copy already has the right bytes.
            (None, true) => hostfs::rename(h, input, &dst)?,
        }
        Ok(())
    })
    .context(|| format!("Error copying {} to {at}", a.source))?;
    let format = match target.unwrap_or(detected) {
        "luks" => "raw",
        f => f,
    };
    Ok((dst, format.to_string()))
}

fn name_of(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
