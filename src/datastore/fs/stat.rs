//! stat <request_id>  (DS_DRIVER_ACTION_DATA on stdin, or <base64> <request_id>)
//!
//! Prints the size in MiB (rounded up) IMAGE/PATH will take as an image:
//! the virtual size of qcow2/vmdk/..., the uncompressed size of compressed
//! raw data, the file size of plain raw data, the total of a directory.
//! Formats are read by qemu-img from the file itself or, for compressed and
//! remote sources, from a decompressed head in a temporary file (removed on
//! every path). A local plain qcow2 or raw file is sized from its own bytes
//! without starting qemu-img, when they leave no doubt (see `quickfmt`).
//! Local paths are checked against RESTRICTED_DIRS/SAFE_DIRS like cp does:
//! the reference did not, and stat reveals sizes.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::ctx::FsCtx;
use super::decompress::{self, read_full, Compression, Decoder, Peeked};
use super::http;
use super::imginfo::{info_cmd, ImageInfo};
use super::quickfmt;
use super::source::{cannot_access, Source, StreamSettings};
use super::stream::read_error;
use crate::dispatch::Invocation;
use crate::error::{Error, Result};
use crate::transport::Host;

const HEAD: usize = 64 << 10;
const HEAD_MAX: usize = 64 << 20;
const MIB: u64 = 1 << 20;

pub fn run(inv: &mut Invocation) -> Result<String> {
    let ctx = FsCtx::load(inv)?;
    let src = Source::parse(ctx.image()?.require("PATH")?)?;
    let files_ds = ctx.datastore().ok().and_then(|d| d.get("TYPE")) == Some("2");
    let s = StreamSettings::from_conf(&ctx.conf, files_ds)?;
    let bytes = size(&src, &s)?;
    if bytes == 0 {
        return Err(Error::failed(format!(
            "{src} is empty (0 bytes): there is no image to register"
        )));
    }
    Ok(bytes.div_ceil(MIB).to_string())
}

/// The size in bytes the image will have.
pub fn size(src: &Source, s: &StreamSettings) -> Result<u64> {
    if let Source::Local(p) = src {
        let canon = s.dirs.check(p, "register image from")?;
        let meta = std::fs::metadata(&canon).map_err(|e| cannot_access(p, &e))?;
        if meta.is_dir() {
            return dir_size(&canon, &mut HashSet::new());
        }
        if !meta.is_file() {
            return Err(Error::Input(format!(
                "IMAGE/PATH {} is neither a regular file nor a directory",
                p.display()
            )));
        }
        let (head, tail) = ends_of(&canon, meta.len())?;
        if !s.decompress || Compression::detect(&head).is_none() {
            let name = canon.to_string_lossy();
            if let Some(q) = quickfmt::decide(&head, &tail, meta.len(), &name) {
                log::debug!("{} is {q:?}: no need to ask qemu-img", p.display());
                return Ok(q.virtual_size());
            }
            let info = qemu_info(&canon).map_err(|e| cannot_tell(src, e))?;
            return Ok(info.virtual_size);
        }
    }
    let head = probe(src, s)?;
    if head.info.format != "raw" {
        return Ok(head.info.virtual_size);
    }
    if let Some(n) = head.whole {
        return Ok(n);
    }
    match (src, head.compression) {
        (Source::Local(_), c) => {
            let mut d = open_decoded(src, s)?.reader;
            io::copy(&mut d, &mut io::sink()).map_err(|e| read_error(&src.to_string(), c, e))
        }
        (Source::Http(u), None) => match head.len {
            Some(l) => Ok(l),
            None => http::content_length(u, &s.http)?.ok_or_else(|| {
                Error::failed(format!(
                    "Cannot tell the size of {u}: the server sends no Content-Length"
                ))
            }),
        },
        (Source::Http(u), Some(c)) => Err(Error::failed(format!(
            "Cannot tell the size of {u}: it is {}-compressed raw data, whose size is only known once \
             downloaded; serve it uncompressed, or set NO_DECOMPRESS=yes to register it as is",
            c.name()
        ))),
    }
}

/// The source, decompressed when it should be.
struct Decoded {
    reader: Decoder<Peeked<Box<dyn Read + Send>>>,
    compression: Option<Compression>,
    /// The (compressed) length, when known.
    len: Option<u64>,
}

fn open_decoded(src: &Source, s: &StreamSettings) -> Result<Decoded> {
    let opened = src.open(s, "register image from")?;
    let (head, chain) =
        decompress::peek(opened.reader).map_err(|e| read_error(&src.to_string(), None, e))?;
    let compression = Compression::detect(&head).filter(|_| s.decompress);
    Ok(Decoded {
        reader: Decoder::new(chain, compression),
        compression,
        len: opened.len,
    })
}

/// What the first bytes tell.
struct Head {
    info: ImageInfo,
    /// The size, when the data ended within the head.
    whole: Option<u64>,
    compression: Option<Compression>,
    len: Option<u64>,
}

/// qemu-img's view of the first bytes (more when it asks for more).
fn probe(src: &Source, s: &StreamSettings) -> Result<Head> {
    let mut want = HEAD;
    loop {
        let mut d = open_decoded(src, s)?;
        let mut head = vec![0u8; want];
        let n = read_full(&mut d.reader, &mut head)
            .map_err(|e| read_error(&src.to_string(), d.compression, e))?;
        let mut tmp = tempfile::NamedTempFile::new()
            .map_err(|e| Error::io("cannot create a temporary file for the image head", e))?;
        tmp.write_all(&head[..n])
            .map_err(|e| Error::io("cannot write the image head", e))?;
        let out = Host::local().output(&info_cmd(&tmp.path().to_string_lossy()))?;
        if out.status.success() {
            return Ok(Head {
                info: ImageInfo::parse(&out.stdout_str()).map_err(|e| cannot_tell(src, e))?,
                whole: (n < want).then_some(n as u64),
                compression: d.compression,
                len: d.len,
            });
        }
        let err = out.stderr_str();
        match expecting_at_least(&err) {
            Some(need) if need > want && need <= HEAD_MAX && n == want => want = need,
            _ => {
                return Err(Error::failed(format!(
                    "Cannot tell the format of {src}: qemu-img cannot read its first {n} bytes: {}",
                    crate::error::one_line(&err)
                )))
            }
        }
    }
}

fn qemu_info(p: &Path) -> Result<ImageInfo> {
    let json = Host::local().run_stdout(&info_cmd(&p.to_string_lossy()))?;
    ImageInfo::parse(&json)
}

/// The first [`quickfmt::HEAD`] and last [`quickfmt::TAIL`] bytes of a file.
fn ends_of(p: &Path, len: u64) -> Result<(Vec<u8>, Vec<u8>)> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(p).map_err(|e| cannot_access(p, &e))?;
    let mut head = vec![0u8; quickfmt::HEAD];
    let n = read_full(&mut &f, &mut head).map_err(|e| cannot_access(p, &e))?;
    head.truncate(n);
    let t = len.min(quickfmt::TAIL);
    let mut tail = vec![0u8; t as usize];
    f.read_exact_at(&mut tail, len - t)
        .map_err(|e| cannot_access(p, &e))?;
    Ok((head, tail))
}

/// qemu-img's "expecting at least N bytes".
fn expecting_at_least(stderr: &str) -> Option<usize> {
    let rest = stderr.split("expecting at least ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// `du -sb`: apparent sizes of everything below, hard links counted once.
fn dir_size(p: &Path, seen: &mut HashSet<(u64, u64)>) -> Result<u64> {
    let meta = std::fs::symlink_metadata(p).map_err(|e| cannot_access(p, &e))?;
    if !seen.insert((meta.dev(), meta.ino())) {
        return Ok(0);
    }
    let mut total = meta.len();
    if meta.is_dir() {
        for entry in std::fs::read_dir(p).map_err(|e| cannot_access(p, &e))? {
            let entry = entry.map_err(|e| cannot_access(p, &e))?;
            total += dir_size(&entry.path(), seen)?;
        }
    }
    Ok(total)
}

fn cannot_tell(src: &Source, e: Error) -> Error {
    e.context(format!("Cannot tell the size of {src}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_img_head_hint() {
        assert_eq!(
            expecting_at_least(
                "qemu-img: Could not open 'x': Image is too small, expecting at least 131072 bytes"
            ),
            Some(131072)
        );
        assert_eq!(expecting_at_least("qemu-img: nope"), None);
    }

    #[test]
    fn directories_count_like_du_sb() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("a"), b"abc").unwrap();
        std::fs::hard_link(t.path().join("a"), t.path().join("b")).unwrap();
        let dir_len = std::fs::metadata(t.path()).unwrap().len();
        assert_eq!(
            dir_size(t.path(), &mut HashSet::new()).unwrap(),
            dir_len + 3
        );
    }
}
