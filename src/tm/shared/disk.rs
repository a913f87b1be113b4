//! The DISK attributes the shared driver reads from the VM (`onevm show -x`):
//! format, sizes, clone/persistent, sparseness, and where its files live.

use crate::config::parse_flag;
use crate::dump::Element;
use crate::error::{Error, Result};
use crate::tm::args::normalise;

/// One `VM/TEMPLATE/DISK`, as far as this driver cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskAttrs {
    /// `None` for `kernel`/`initrd` destinations, which have no DISK.
    pub id: Option<u32>,
    pub format: Option<String>,
    pub size_mb: Option<u64>,
    pub original_size_mb: Option<u64>,
    /// QCOW2_STANDALONE=yes: a full qcow2 copy instead of an overlay.
    pub standalone: bool,
    /// False only for SPARSE=no/NO (exactly those spellings, as the reference).
    pub sparse: bool,
    /// CLONE=YES: the disk is a copy in the system datastore.
    pub clone: bool,
    pub source: Option<String>,
    pub target: Option<String>,
}

impl DiskAttrs {
    /// Reads DISK[DISK_ID=id] of `vm`; a missing DISK (kernel, initrd) gives
    /// the defaults, which select a plain copy.
    pub fn from_vm(vm: &Element, vm_id: &str, id: Option<u32>) -> Result<DiskAttrs> {
        let Some(id) = id else {
            return Ok(DiskAttrs {
                sparse: true,
                ..DiskAttrs::default()
            });
        };
        let Some(d) = vm.find(&format!("TEMPLATE/DISK[DISK_ID={id}]")) else {
            return Ok(DiskAttrs {
                id: Some(id),
                sparse: true,
                ..DiskAttrs::default()
            });
        };
        let get = |k: &str| d.get(k).map(|v| v.trim().to_string());
        let mb = |k: &str| -> Result<Option<u64>> {
            match get(k) {
                None => Ok(None),
                Some(v) => v.parse().map(Some).map_err(|_| {
                    Error::Input(format!(
                        "DISK {id} of VM {vm_id} has {k}='{v}': expected a size in MB (fix the disk's {k})"
                    ))
                }),
            }
        };
        Ok(DiskAttrs {
            id: Some(id),
            format: get("FORMAT"),
            size_mb: mb("SIZE")?,
            original_size_mb: mb("ORIGINAL_SIZE")?,
            standalone: get("QCOW2_STANDALONE").and_then(|v| parse_flag(&v)) == Some(true),
            sparse: !matches!(get("SPARSE").as_deref(), Some("no" | "NO")),
            clone: get("CLONE").as_deref() == Some("YES"),
            source: get("SOURCE").map(|s| normalise(&s)),
            target: get("TARGET"),
        })
    }

    pub fn is_qcow2(&self) -> bool {
        self.format.as_deref() == Some("qcow2")
    }

    /// The new size when the disk grows at clone (SIZE > ORIGINAL_SIZE).
    pub fn grow_to(&self) -> Option<u64> {
        match (self.size_mb, self.original_size_mb) {
            (Some(s), Some(o)) if s > o => Some(s),
            _ => None,
        }
    }

    /// The image SOURCE, required for persistent disks.
    pub fn require_source(&self, vm_id: &str) -> Result<&str> {
        let id = self.id.map(|i| i.to_string()).unwrap_or_default();
        match self.source.as_deref() {
            Some(s) if s.starts_with('/') => Ok(s),
            Some(s) => Err(Error::Input(format!(
                "DISK {id} of VM {vm_id} has SOURCE='{s}': expected an absolute path in the image datastore"
            ))),
            None => Err(Error::Input(format!(
                "DISK {id} of VM {vm_id} has no SOURCE: a persistent disk needs its image path"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vm(disk: &str) -> Element {
        Element::parse(
            &format!("<VM><TEMPLATE><DISK><DISK_ID>2</DISK_ID>{disk}</DISK></TEMPLATE></VM>"),
            "vm",
        )
        .unwrap()
    }

    #[test]
    fn reads_attributes_like_the_reference() {
        let d = DiskAttrs::from_vm(
            &vm(
                "<FORMAT>qcow2</FORMAT><SIZE>200</SIZE><ORIGINAL_SIZE>100</ORIGINAL_SIZE>\
                 <QCOW2_STANDALONE>yes</QCOW2_STANDALONE><SPARSE>NO</SPARSE><CLONE>YES</CLONE>\
                 <SOURCE>/ds//1/abc</SOURCE><TARGET>vdb</TARGET>",
            ),
            "7",
            Some(2),
        )
        .unwrap();
        assert!(d.is_qcow2() && d.standalone && !d.sparse && d.clone);
        assert_eq!(d.grow_to(), Some(200));
        assert_eq!(d.source.as_deref(), Some("/ds/1/abc"));
        assert_eq!(d.target.as_deref(), Some("vdb"));
        // Only no/NO turn sparseness off; SIZE <= ORIGINAL_SIZE never resizes.
        let d = DiskAttrs::from_vm(
            &vm("<SPARSE>No</SPARSE><SIZE>100</SIZE><ORIGINAL_SIZE>100</ORIGINAL_SIZE>"),
            "7",
            Some(2),
        )
        .unwrap();
        assert!(d.sparse && !d.clone && !d.standalone);
        assert_eq!(d.grow_to(), None);
    }

    #[test]
    fn missing_disk_is_a_plain_copy_and_bad_sizes_name_the_attribute() {
        let d = DiskAttrs::from_vm(&vm(""), "7", None).unwrap();
        assert!(d.sparse && d.format.is_none());
        let e = DiskAttrs::from_vm(&vm("<SIZE>1G</SIZE>"), "7", Some(2))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "DISK 2 of VM 7 has SIZE='1G': expected a size in MB (fix the disk's SIZE)"
        );
        let d = DiskAttrs::from_vm(&vm(""), "7", Some(2)).unwrap();
        assert!(d
            .require_source("7")
            .unwrap_err()
            .to_string()
            .contains("no SOURCE"));
    }
}
