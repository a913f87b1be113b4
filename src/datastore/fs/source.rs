//! IMAGE/PATH as a byte stream: a local file (checked against
//! RESTRICTED_DIRS/SAFE_DIRS) or an http(s) URL, throttled by
//! LIMIT_TRANSFER_BW. Other schemes are refused by name instead of being
//! waved through the restricted-dirs check as the reference did.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::download::Download;
use super::http::HttpSettings;
use super::restricted::Dirs;
use super::throttle::{self, Throttled};
use crate::config::Config;
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Local(PathBuf),
    Http(String),
}

impl Source {
    pub fn parse(path: &str) -> Result<Source> {
        let p = path.trim();
        if let Some((scheme, rest)) = p.split_once("://") {
            let valid = !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
            if valid {
                return match scheme.to_ascii_lowercase().as_str() {
                    "http" | "https" => Ok(Source::Http(p.to_string())),
                    "file" if rest.starts_with('/') => Ok(Source::Local(PathBuf::from(rest))),
                    _ => Err(Error::Input(format!(
                        "IMAGE/PATH {p}: the {scheme}:// scheme is not supported by one-storage's fs driver \
                         (local files and http(s) URLs are); copy the image to an allowed directory or an http server"
                    ))),
                };
            }
        }
        if !p.starts_with('/') {
            return Err(Error::Input(format!(
                "IMAGE/PATH '{p}' is neither an absolute path nor an http(s) URL"
            )));
        }
        Ok(Source::Local(PathBuf::from(p)))
    }

    pub fn is_local(&self) -> bool {
        matches!(self, Source::Local(_))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Local(p) => write!(f, "{}", p.display()),
            Source::Http(u) => f.write_str(u),
        }
    }
}

/// How sources are read: the settings both cp and stat honour.
#[derive(Debug, Clone)]
pub struct StreamSettings {
    pub rate: Option<u64>,
    pub decompress: bool,
    pub http: HttpSettings,
    pub dirs: Dirs,
}

impl StreamSettings {
    /// `files_ds`: DATASTORE/TYPE is 2, where NO_DECOMPRESS defaults to yes.
    pub fn from_conf(conf: &Config, files_ds: bool) -> Result<StreamSettings> {
        Ok(StreamSettings {
            rate: throttle::rate_from(conf)?,
            decompress: !conf.flag("NO_DECOMPRESS", files_ds)?,
            http: HttpSettings::from_conf(conf)?,
            dirs: Dirs::from_conf(conf),
        })
    }
}

/// An open source: its bytes and, when known, how many there are.
pub struct Opened {
    pub reader: Box<dyn Read + Send>,
    pub len: Option<u64>,
}

impl Source {
    /// Opens the source for reading. `what` completes "Not allowed to ...".
    pub fn open(&self, s: &StreamSettings, what: &str) -> Result<Opened> {
        let (reader, len): (Box<dyn Read + Send>, Option<u64>) = match self {
            Source::Local(p) => {
                let canon = s.dirs.check(p, what)?;
                let f = std::fs::File::open(&canon).map_err(|e| cannot_access(p, &e))?;
                let meta = f.metadata().map_err(|e| cannot_access(p, &e))?;
                use std::os::unix::fs::FileTypeExt;
                if !(meta.is_file() || meta.file_type().is_block_device()) {
                    return Err(Error::Input(format!(
                        "IMAGE/PATH {} is not a regular file: register an image file",
                        p.display()
                    )));
                }
                let label = format!("reading {}", p.display());
                (Box::new(Labeled { inner: f, label }), Some(meta.len()))
            }
            Source::Http(u) => {
                let d = Download::open(u, &s.http)?;
                let len = d.len;
                (Box::new(d), len)
            }
        };
        let reader = match s.rate {
            Some(r) => Box::new(Throttled::new(reader, r)),
            None => reader,
        };
        Ok(Opened { reader, len })
    }
}

/// `cannot access 'P' (No such file or directory)`, as the reference words it.
pub fn cannot_access(p: &Path, e: &io::Error) -> Error {
    let why = match e.kind() {
        io::ErrorKind::NotFound => "No such file or directory".to_string(),
        io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    };
    Error::failed(format!("cannot access '{}' ({why})", p.display()))
}

/// Turns a local read error into one of ours, so the pipeline can tell a
/// failing source from corrupt compressed data.
struct Labeled<R> {
    inner: R,
    label: String,
}

impl<R: Read> Read for Labeled<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .read(buf)
            .map_err(|e| io::Error::other(Error::io(self.label.clone(), e)))
    }
}

/// The error a source stored in an `io::Error`, if this is one.
pub fn source_error(e: io::Error) -> std::result::Result<Error, io::Error> {
    if !e.get_ref().is_some_and(|i| i.is::<Error>()) {
        return Err(e);
    }
    let kind = e.kind();
    match e.into_inner().map(|i| i.downcast::<Error>()) {
        Some(Ok(err)) => Ok(*err),
        Some(Err(other)) => Err(io::Error::new(kind, other)),
        None => Err(io::Error::from(kind)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_schemes() {
        assert_eq!(
            Source::parse("/var/tmp/a b.img").unwrap(),
            Source::Local("/var/tmp/a b.img".into())
        );
        assert_eq!(
            Source::parse("file:///var/tmp/x").unwrap(),
            Source::Local("/var/tmp/x".into())
        );
        assert!(matches!(
            Source::parse("HTTPS://h/x").unwrap(),
            Source::Http(_)
        ));
        let e = Source::parse("s3://bucket/x").unwrap_err().to_string();
        assert!(
            e.contains("s3:// scheme is not supported by one-storage's fs driver"),
            "{e}"
        );
        assert!(Source::parse("ssh://host:/x").is_err());
        assert!(Source::parse("relative/x").is_err());
    }

    #[test]
    fn source_errors_survive_io_wrapping() {
        let e = io::Error::other(Error::failed("boom"));
        assert_eq!(source_error(e).unwrap().to_string(), "boom");
        assert!(source_error(io::Error::other("plain")).is_err());
    }
}
