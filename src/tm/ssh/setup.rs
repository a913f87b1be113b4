//! What every ssh action starts from: the context with the driver's defaults,
//! where a location lives (the front-end or a host), and the values read
//! from the VM's DISK (SPARSE, SIZE, ORIGINAL_SIZE, FORMAT).

use crate::dispatch::Invocation;
use crate::dump::Element;
use crate::error::{Error, Result};
use crate::tm::args::Location;
use crate::tm::ctx::TmCtx;

/// Defaults of the keys the ssh driver adds (documented in tm/ssh/ssh.conf).
pub const DEFAULTS: &[(&str, &str)] = &[
    // This driver moves image data: the system ssh streams it at the speed
    // of `ssh cat`, libssh2 at 50-75 % of it (docs/performance-analysis.md).
    ("SSH_TRANSPORT", "ssh"),
    (
        "HOST_SSH_OPTIONS",
        "-o BatchMode=yes -o ConnectTimeout=10 -o ServerAliveInterval=10 -o ServerAliveCountMax=3",
    ),
    ("LIBVIRT_URI", "qemu:///system"),
    ("VIRSH_TIMEOUT", "60"),
];

pub fn load(inv: &Invocation) -> Result<TmCtx> {
    TmCtx::load(inv, "ssh", DEFAULTS)
}

/// The options a host's own ssh gets when it pushes data to another host.
pub fn host_ssh_options(ctx: &TmCtx) -> Result<Vec<String>> {
    let words: Vec<String> = ctx
        .conf
        .get("HOST_SSH_OPTIONS")
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if words
        .iter()
        .any(|w| w.contains(['\'', '"', '`', '$', ';', '|', '&']))
    {
        return Err(ctx.conf.invalid(
            "HOST_SSH_OPTIONS",
            "ssh options separated by spaces, e.g. -o BatchMode=yes -p 2222",
        ));
    }
    Ok(words)
}

/// The host holding `loc`: `None` for the front-end (a bare path or one of
/// the front-end's names), else the host name as oned gave it.
pub fn place(ctx: &TmCtx, loc: &Location) -> Option<String> {
    match loc.host.as_deref() {
        Some(h) if !ctx.is_frontend(h) => Some(h.to_string()),
        _ => None,
    }
}

/// `host:path` for messages, `the front-end:path` for a front-end path.
pub fn describe(place: &Option<String>, path: &str) -> String {
    match place {
        Some(h) => format!("{h}:{path}"),
        None => format!("the front-end:{path}"),
    }
}

/// The DISK attributes the copy actions honour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskAttrs {
    /// False only for SPARSE=no/NO (exactly those spellings, as the reference).
    pub sparse: bool,
    pub size_mb: Option<u64>,
    pub original_size_mb: Option<u64>,
    pub format: Option<String>,
}

impl DiskAttrs {
    pub fn from_disk(disk: Option<&Element>) -> Result<DiskAttrs> {
        let Some(d) = disk else {
            return Ok(DiskAttrs {
                sparse: true,
                ..DiskAttrs::default()
            });
        };
        let mb = |k: &str| -> Result<Option<u64>> {
            d.get(k)
                .map(|v| {
                    v.trim().parse::<u64>().map_err(|_| {
                        Error::Input(format!("the disk's {k} '{v}' is not a size in MB"))
                    })
                })
                .transpose()
        };
        Ok(DiskAttrs {
            sparse: !matches!(d.get("SPARSE"), Some("no" | "NO")),
            size_mb: mb("SIZE")?,
            original_size_mb: mb("ORIGINAL_SIZE")?,
            format: d.get("FORMAT").map(str::to_string),
        })
    }

    /// The new size when the disk was made bigger than its image.
    pub fn grow_to(&self) -> Option<u64> {
        match (self.size_mb, self.original_size_mb) {
            (Some(s), Some(o)) if s > o => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(xml: &str) -> Element {
        Element::parse(xml, "test").unwrap()
    }

    #[test]
    fn disk_attributes() {
        let d = disk(
            "<DISK><SPARSE>NO</SPARSE><SIZE>200</SIZE><ORIGINAL_SIZE>100</ORIGINAL_SIZE></DISK>",
        );
        let a = DiskAttrs::from_disk(Some(&d)).unwrap();
        assert!(!a.sparse);
        assert_eq!(a.grow_to(), Some(200));
        let d = disk(
            "<DISK><SPARSE>No</SPARSE><SIZE>100</SIZE><ORIGINAL_SIZE>100</ORIGINAL_SIZE></DISK>",
        );
        let a = DiskAttrs::from_disk(Some(&d)).unwrap();
        assert!(a.sparse, "only no/NO turn sparseness off");
        assert_eq!(a.grow_to(), None);
        assert!(DiskAttrs::from_disk(None).unwrap().sparse);
        let d = disk("<DISK><SIZE>big</SIZE></DISK>");
        assert!(DiskAttrs::from_disk(Some(&d)).is_err());
    }
}
