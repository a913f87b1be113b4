//! mkfs <image_id>  (DS_DRIVER_ACTION_DATA on stdin): create an empty
//! datablock of IMAGE/SIZE MiB in IMAGE/FORMAT, formatted with IMAGE/FS;
//! prints its path. FORMAT=save_as only reserves a path (the TM writes it).
//!
//! IMAGE/FS is checked against SUPPORTED_FS before anything else happens
//! (the reference evaluated `FS_OPTS_<FS>` in a shell first). FS_OPTS_<fs>
//! is data: split into words, never given to a shell. The image is built
//! under a hidden temporary name and renamed at the end.

use crate::command::Script;
use crate::datastore::fs::ctx::FsCtx;
use crate::datastore::fs::hostfs;
use crate::dispatch::Invocation;
use crate::error::{Context, Error, Result};
use crate::tools;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MkfsArgs {
    pub base: String,
    /// `None` for save_as; else the qemu-img format of the result.
    pub format: Option<String>,
    pub swap: bool,
    pub size_mb: u64,
    /// The file system and its extra mkfs options.
    pub fs: Option<(String, Vec<String>)>,
}

impl MkfsArgs {
    pub fn from_ctx(ctx: &FsCtx) -> Result<MkfsArgs> {
        let image = ctx.image()?;
        // First of all: an FS outside the whitelist never reaches anything.
        let fs = match image.get("FS") {
            None => None,
            Some(fs) => {
                let supported = ctx.conf.get_or("SUPPORTED_FS", "ext2,ext3,ext4,xfs");
                if !supported.split(',').map(str::trim).any(|s| s == fs) {
                    return Err(Error::Input(format!(
                        "IMAGE/FS '{fs}' is not a supported file system: SUPPORTED_FS is {supported} (set in {}); use one of those or leave FS empty",
                        ctx.conf.origin("SUPPORTED_FS").map(|o| o.describe()).unwrap_or_default()
                    )));
                }
                let key = format!("FS_OPTS_{fs}");
                let opts = split_words(ctx.conf.get(&key).unwrap_or(""))
                    .map_err(|why| Error::Config(format!("{key}: {why}")))?;
                Some((fs.to_string(), opts))
            }
        };
        let format = image.get("FORMAT").unwrap_or("raw");
        let (format, swap) = match format {
            "save_as" => (None, false),
            "swap" => (Some("raw".to_string()), true),
            f if !f.is_empty() && f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                (Some(f.to_string()), false)
            }
            f => {
                return Err(Error::Input(format!(
                    "IMAGE/FORMAT '{f}' is not an image format: use raw, qcow2, swap or another qemu-img format"
                )))
            }
        };
        let size = image.get("SIZE").unwrap_or("0");
        let size_mb = size.trim().parse::<u64>().map_err(|_| {
            Error::Input(format!(
                "IMAGE/SIZE '{size}' is not a size in MB: expected a whole number"
            ))
        })?;
        Ok(MkfsArgs {
            base: ctx.base_path()?.to_string_lossy().into_owned(),
            format,
            swap,
            size_mb,
            fs,
        })
    }
}

pub fn run(inv: &mut Invocation) -> Result<String> {
    let mut ctx = FsCtx::load(inv)?;
    let args = MkfsArgs::from_ctx(&ctx)?;
    mkfs(&mut ctx, &args)
}

pub fn mkfs(ctx: &mut FsCtx, a: &MkfsArgs) -> Result<String> {
    let id = ctx.id().to_string();
    let bridge = ctx.bridge(ctx.image_key())?;
    let host = ctx.host(bridge.as_deref())?;
    let dst = hostfs::fresh_image_path(host, &a.base, &id)?;
    let Some(format) = &a.format else {
        log::info!(
            "save_as: reserved {dst} on {}; nothing created",
            host.label()
        );
        return Ok(dst);
    };
    hostfs::make_dir(host, &a.base)?;
    let tmp = hostfs::temp_name(&dst, "mkfs");
    let converted = hostfs::temp_name(&dst, "mkfs-convert");
    let size = format!("{}M", a.size_mb);
    let fail = || {
        format!(
            "Unable to create image with format {format} in {}",
            hostfs::at(bridge.as_deref(), &dst)
        )
    };
    hostfs::or_discard(host, &[&tmp, &converted], |h| {
        let mut built = tmp.clone();
        match &a.fs {
            Some((fs, opts)) => {
                h.run(
                    &tools::QEMU_IMG
                        .cmd()
                        .args(["create", "-q", "-f", "raw", &tmp, &size]),
                )?;
                let mkfs = if fs == "xfs" {
                    tools::MKFS_XFS
                        .cmd()
                        .arg("-f")
                        .args(opts.iter().cloned())
                        .arg(&tmp)
                } else {
                    tools::MKFS
                        .cmd()
                        .args(["-F", "-t", fs])
                        .args(opts.iter().cloned())
                        .arg(&tmp)
                };
                h.run(&with_sbin(&mkfs))?;
                if format != "raw" {
                    let convert = ["convert", "-q", "-f", "raw", "-O", format, &tmp, &converted];
                    h.run(&tools::QEMU_IMG.cmd().args(convert))?;
                    hostfs::remove(h, &[&tmp])?;
                    built = converted.clone();
                }
            }
            None => {
                h.run(
                    &tools::QEMU_IMG
                        .cmd()
                        .args(["create", "-q", "-f", format, &tmp, &size]),
                )?;
            }
        }
        if a.swap {
            h.run(&with_sbin(&tools::MKSWAP.cmd().args(["-L", "swap", &tmp])))?;
        }
        hostfs::rename(h, &built, &dst)
    })
    .context(fail)?;
    log::info!(
        "created {} ({format}, {} MB)",
        hostfs::at(bridge.as_deref(), &dst),
        a.size_mb
    );
    Ok(dst)
}

/// mkfs and mkswap live in sbin, which a non-root PATH on a host may lack.
fn with_sbin(cmd: &crate::command::Cmd) -> crate::command::Cmd {
    Script::new()
        .raw("export PATH=\"$PATH:/usr/sbin:/sbin\"")
        .cmd(cmd)
        .into_cmd()
}

/// Splits FS_OPTS into argv words: white space separates, '...' and "..."
/// group. Nothing is expanded.
pub fn split_words(s: &str) -> std::result::Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                cur.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(cur.take()),
            (None, c) => cur.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(q) = quote {
        return Err(format!("unbalanced {q} in '{s}'"));
    }
    words.extend(cur);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fs_opts_are_words_not_shell() {
        assert_eq!(split_words("").unwrap(), Vec::<String>::new());
        assert_eq!(
            split_words(" -L 'my data'  -E \"a=1,b=2\" $(x)").unwrap(),
            vec!["-L", "my data", "-E", "a=1,b=2", "$(x)"]
        );
        assert_eq!(split_words("-L ''").unwrap(), vec!["-L", ""]);
        assert!(split_words("-L 'x").is_err());
    }
}
