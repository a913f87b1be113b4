//! TM arguments: `host:path` locations, disk names and ids.
//!
//! oned passes `host:/var/lib/one//datastores/0/42/disk.0`, a bare `SOURCE`
//! (mvds, cpds), or an IPv6 host as `[fd00::1]:/path`. A location is modelled
//! as an optional host plus a normalised path, never as two strings that are
//! compared to guess "is this local".

use std::fmt;

use crate::error::{Error, Result};
use crate::transport::check_host_name;

/// A place on a host: `host:path`, or a bare path on the front-end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// `None` for a bare path (a SOURCE in the image datastore).
    pub host: Option<String>,
    /// Absolute, with repeated and trailing slashes removed.
    pub path: String,
}

impl Location {
    /// Parses `host:path`, `[v6addr]:path` or a bare absolute path.
    pub fn parse(arg: &str) -> Result<Location> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "'{arg}' is not a valid location ({why}): expected host:/absolute/path"
            ))
        };
        let (host, path) = if let Some(rest) = arg.strip_prefix('[') {
            let (h, p) = rest
                .split_once("]:")
                .ok_or_else(|| bad("unterminated [IPv6] host"))?;
            (Some(h.to_string()), p)
        } else if arg.starts_with('/') {
            (None, arg)
        } else {
            let (h, p) = arg.split_once(':').ok_or_else(|| bad("no host"))?;
            (Some(h.to_string()), p)
        };
        if let Some(h) = &host {
            check_host_name(h)?;
        }
        if !path.starts_with('/') {
            return Err(bad("the path is not absolute"));
        }
        if path.split('/').any(|c| c == "..") {
            return Err(bad("'..' is not allowed in a path"));
        }
        Ok(Location {
            host,
            path: normalise(path),
        })
    }

    /// A location on `host` (the front-end when `None`).
    pub fn new(host: Option<&str>, path: &str) -> Location {
        Location {
            host: host.map(str::to_string),
            path: normalise(path),
        }
    }

    /// The host name, or an error for a bare path where a host is required.
    pub fn require_host(&self) -> Result<&str> {
        self.host.as_deref().ok_or_else(|| {
            Error::Usage(format!(
                "'{}' has no host part: expected host:path",
                self.path
            ))
        })
    }

    /// The directory holding this path.
    pub fn dir(&self) -> String {
        parent(&self.path)
    }

    /// The last path component (`disk.0`, `42`).
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or("")
    }

    /// The disk id of `.../disk.<id>`; `None` for `kernel`, `initrd` or a VM dir.
    pub fn disk_id(&self) -> Option<u32> {
        self.name().strip_prefix("disk.")?.parse().ok()
    }

    /// True for a per-disk location (`.../disk.<n>`), false for a VM directory.
    pub fn is_disk(&self) -> bool {
        self.disk_id().is_some()
    }

    /// A sibling or child path on the same host.
    pub fn with_path(&self, path: &str) -> Location {
        Location::new(self.host.as_deref(), path)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Some(h) if h.contains(':') => write!(f, "[{h}]:{}", self.path),
            Some(h) => write!(f, "{h}:{}", self.path),
            None => f.write_str(&self.path),
        }
    }
}

/// Collapses repeated slashes and drops a trailing one (oned writes
/// `/var/lib/one//datastores/0/42`).
pub fn normalise(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c);
    }
    if out.len() > 1 && out.ends_with('/') {
        out.pop();
    }
    out
}

/// The parent directory of a normalised absolute path.
pub fn parent(path: &str) -> String {
    match path.rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((d, _)) => d.to_string(),
    }
}

/// Parses a numeric argument (ids, sizes), naming it in the error.
pub fn number<T: std::str::FromStr>(arg: &str, what: &str) -> Result<T> {
    arg.trim()
        .parse()
        .map_err(|_| Error::Usage(format!("{what} '{arg}' is not a number")))
}

/// Checks the argument count: exactly `min`..=`max` (extra trailing arguments
/// up to `max` are accepted: oned's migrate_other passes the calling TM).
pub fn expect_args(args: &[String], min: usize, max: usize) -> Result<()> {
    if args.len() < min || args.len() > max {
        return Err(Error::Usage(format!(
            "expected {} arguments, got {}",
            if min == max {
                min.to_string()
            } else {
                format!("{min} to {max}")
            },
            args.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_path() {
        let l = Location::parse("lab1:/var/lib/one//datastores/0/42/disk.3/").unwrap();
        assert_eq!(l.host.as_deref(), Some("lab1"));
        assert_eq!(l.path, "/var/lib/one/datastores/0/42/disk.3");
        assert_eq!(l.dir(), "/var/lib/one/datastores/0/42");
        assert_eq!(l.disk_id(), Some(3));
        assert!(l.is_disk());
        assert_eq!(l.to_string(), "lab1:/var/lib/one/datastores/0/42/disk.3");
    }

    #[test]
    fn bare_source_and_ipv6() {
        let l = Location::parse("/var/lib/one/datastores/1/abc").unwrap();
        assert_eq!(l.host, None);
        assert!(l.require_host().is_err());
        let v6 = Location::parse("[fd00::1]:/ds/0/7").unwrap();
        assert_eq!(v6.host.as_deref(), Some("fd00::1"));
        assert_eq!(v6.to_string(), "[fd00::1]:/ds/0/7");
        assert!(!v6.is_disk());
        assert_eq!(Location::parse("h:/ds/0/7/kernel").unwrap().disk_id(), None);
    }

    #[test]
    fn bad_locations() {
        for bad in [
            "lab1",
            "lab1:relative",
            "-oProxyCommand=x:/a",
            "[fd00::1/a",
            "h:/a/../etc",
            "",
        ] {
            assert!(Location::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arg_counts() {
        let a: Vec<String> = vec!["a".into(); 6];
        assert!(expect_args(&a, 5, 6).is_ok());
        assert!(expect_args(&a[..4], 5, 6)
            .unwrap_err()
            .to_string()
            .contains("5 to 6"));
    }
}
