//! context <context.sh> [FILE...] <host:DST> <vm_id> <ds_id>
//!
//! Builds the context CD-ROM on the front-end and puts it on the host as DST
//! (`disk.N`). The files are staged in a private temporary directory (never
//! a shared path another action could be building at the same time), the
//! ISO 9660 image is made with `-V CONTEXT -J -R` (volume label, Joliet and
//! Rock Ridge), and streamed to the host in one command that writes a hidden
//! temporary beside DST and renames it over DST. A missing source fails
//! before the host is contacted; re-running overwrites DST.

mod files;

use std::path::Path;

use crate::command::{quote, Cmd, Script};
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::tm::args::Location;
use crate::tm::ctx::TmCtx;
use crate::tools::{Tool, CAT, GENISOIMAGE, MKDIR, MKISOFS, MV, XORRISO};
use crate::transport::{Host, Io};

pub use files::{parse_source, Source};

/// ISO 9660 builders, in order of preference; all take mkisofs's flags.
const ISO_TOOLS: [Tool; 3] = [XORRISO, GENISOIMAGE, MKISOFS];

pub fn run(inv: &mut Invocation) -> Result<String> {
    let n = inv.args.len();
    if n < 4 {
        return Err(Error::Usage(format!(
            "expected at least 4 arguments, got {n}"
        )));
    }
    let dst = Location::parse(&inv.args[n - 3])?;
    super::id(&inv.args[n - 2], "vm_id")?;
    super::id(&inv.args[n - 1], "ds_id")?;
    if dst.name().is_empty() {
        return Err(Error::Usage(format!("'{dst}' names no file")));
    }
    let sources = inv.args[..n - 3]
        .iter()
        .map(|a| parse_source(a))
        .collect::<Result<Vec<_>>>()?;

    let mut ctx = TmCtx::for_invocation(inv, &[])?;
    let work = tempfile::Builder::new()
        .prefix("one-context-")
        .tempdir()
        .context(|| "cannot create a temporary directory on the front-end".to_string())?;
    let staging = work.path().join("files");
    std::fs::create_dir(&staging).context(|| format!("cannot create {}", staging.display()))?;
    files::stage(&sources, &staging)?;

    let iso = work.path().join("context.iso");
    let build = iso_command(&staging, &iso)?;
    ctx.hosts
        .local()
        .run(&build)
        .context(|| "cannot build the context ISO on the front-end".to_string())?;
    let size = std::fs::metadata(&iso).map(|m| m.len()).unwrap_or(0);

    let host = ctx.host(&dst)?;
    send(host, &iso, &dst)?;
    log::info!(
        "context ISO with {} source(s), {size} bytes, written to {dst}",
        sources.len()
    );
    Ok(String::new())
}

/// `xorriso -as mkisofs -o ISO -V CONTEXT -J -R DIR`, or the same flags to
/// genisoimage/mkisofs: the ISO's root is the contents of DIR.
pub fn iso_command(staging: &Path, iso: &Path) -> Result<Cmd> {
    let tool = ISO_TOOLS.into_iter().find(Tool::available).ok_or_else(|| {
        Error::failed(
            "no ISO 9660 tool on the front-end (xorriso, genisoimage or mkisofs): \
                 install the xorriso package",
        )
    })?;
    let mut c = tool.cmd();
    if tool == XORRISO {
        c = c.args(["-as", "mkisofs"]);
    }
    Ok(c.arg("-o")
        .arg(iso.to_string_lossy())
        .args(["-V", "CONTEXT", "-J", "-R"])
        .arg(staging.to_string_lossy()))
}

/// The host script: the ISO arrives on stdin into a hidden temporary
/// beside DST, which is renamed over DST once complete.
pub fn receive_script(dst: &Location, tmp: &str) -> Cmd {
    Script::new()
        .cmd(&MKDIR.cmd().args(["-p", "--", &dst.dir()]))
        .line(format!("tmp={}", quote(tmp)))
        .raw(r#"trap 'rm -f -- "$tmp"' EXIT"#)
        .line(format!("{} > {}", CAT.cmd(), quote(tmp)))
        .cmd(&MV.cmd().args(["-fT", "--", tmp, &dst.path]))
        .into_cmd()
}

fn send(host: &mut Host, iso: &Path, dst: &Location) -> Result<()> {
    let mut file = std::fs::File::open(iso).context(|| format!("cannot read {}", iso.display()))?;
    let cmd = receive_script(dst, &super::temp_path(dst));
    let io = Io {
        stdin: Some((&mut file).into()),
        stdout: None,
    };
    host.run_io(&cmd, io)
        .map_err(|e| super::script_error(e, &format!("cannot write the context ISO to {}", dst)))?;
    Ok(())
}
