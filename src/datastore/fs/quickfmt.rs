//! The virtual size of a local image read from its first bytes, without
//! starting `qemu-img info` (which costs more than the rest of `stat`).
//!
//! Only the two common cases are decided here: a plain qcow2 (v2 or v3, no
//! encryption, no external data file) and raw data, i.e. a file that none of
//! qemu's format probes (block/*.c `*_probe`) would claim. Anything that
//! looks even partly like another format gives `None`, and the caller asks
//! qemu-img: a wrong guess would register an image with the wrong size.

/// How many bytes qemu's format probes look at (BLOCK_PROBE_BUF_SIZE).
pub const HEAD: usize = 2048;
/// DMG images end with a 512-byte trailer starting with `koly`.
pub const TAIL: u64 = 512;

/// What the bytes tell, when they tell it for sure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quick {
    /// Raw data: the virtual size is the file length.
    Raw(u64),
    /// A qcow2 image with this virtual size.
    Qcow2(u64),
}

impl Quick {
    pub fn virtual_size(self) -> u64 {
        match self {
            Quick::Raw(n) | Quick::Qcow2(n) => n,
        }
    }
}

/// Leading bytes of every format qemu-img would detect besides qcow2.
const OTHER_MAGICS: &[&[u8]] = &[
    b"QED\0",                   // qed
    b"KDMV",                    // vmdk (sparse extent)
    b"COWD",                    // vmdk (VMware 3 extent)
    b"version=",                // vmdk text descriptor without comments
    b"vhdxfile",                // vhdx
    b"conectix",                // vpc (dynamic vhd)
    b"LUKS\xba\xbe",            // luks
    b"WithoutFreeSpace",        // parallels
    b"WithouFreSpacExt",        // parallels
    b"Bochs Virtual HD Image",  // bochs
    b"#!/bin/sh\n#V2.0 Format", // cloop (also caught by '#')
];

/// `head`: the file's first [`HEAD`] bytes (fewer when the file is shorter);
/// `tail`: its last [`TAIL`] bytes; `len`: its length; `name`: the path as
/// qemu-img would be given it (dmg is detected by the `.dmg` suffix alone).
pub fn decide(head: &[u8], tail: &[u8], len: u64, name: &str) -> Option<Quick> {
    if head.starts_with(b"QFI\xfb") {
        return qcow2_size(head).map(Quick::Qcow2);
    }
    let claimed = OTHER_MAGICS.iter().any(|m| head.starts_with(m))
        // vmdk descriptors may open with comments and blank lines.
        || head.first().is_some_and(|b| *b == b'#' || *b == b' ')
        || head.get(0x40..0x44) == Some(&[0x7f, 0x10, 0xda, 0xbe][..]) // vdi
        || tail.starts_with(b"koly")
        || name.to_ascii_lowercase().ends_with(".dmg");
    (!claimed && head.len() as u64 == len.min(HEAD as u64)).then_some(Quick::Raw(len))
}

/// The virtual size in a qcow2 header, when the image is one qemu-img would
/// report plainly; `None` for anything unusual (qemu-img then says it).
fn qcow2_size(h: &[u8]) -> Option<u64> {
    let be32 = |o: usize| Some(u32::from_be_bytes(h.get(o..o + 4)?.try_into().ok()?));
    let be64 = |o: usize| Some(u64::from_be_bytes(h.get(o..o + 8)?.try_into().ok()?));
    let version = be32(4)?;
    let cluster_bits = be32(20)?;
    let size = be64(24)?;
    let crypt_method = be32(32)?;
    if !(9..=21).contains(&cluster_bits) || crypt_method != 0 {
        return None;
    }
    match version {
        2 if h.len() >= 72 => {}
        3 => {
            // Only compression type (bit 3) and extended L2 (bit 4) leave
            // the size alone; dirty, corrupt, external data file and any
            // bit this code does not know go to qemu-img.
            let incompatible = be64(72)?;
            let header_length = be32(100)?;
            if incompatible & !(1 << 3 | 1 << 4) != 0 || header_length < 104 {
                return None;
            }
        }
        _ => return None,
    }
    // qemu keeps whole 512-byte sectors; an odd size is for qemu-img to judge.
    (size % 512 == 0 && size <= i64::MAX as u64).then_some(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qcow2(version: u32, size: u64) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[20..24].copy_from_slice(&16u32.to_be_bytes());
        h[24..32].copy_from_slice(&size.to_be_bytes());
        if version == 3 {
            h[100..104].copy_from_slice(&112u32.to_be_bytes());
        }
        h
    }

    #[test]
    fn plain_qcow2_gives_the_header_size() {
        for v in [2, 3] {
            let h = qcow2(v, 10 << 30);
            assert_eq!(
                decide(&h, &[], 1 << 20, "/d/a.qcow2"),
                Some(Quick::Qcow2(10 << 30))
            );
        }
    }

    #[test]
    fn unusual_qcow2_goes_to_qemu_img() {
        let set = |mut h: Vec<u8>, at: usize, bytes: &[u8]| {
            h[at..at + bytes.len()].copy_from_slice(bytes);
            h
        };
        let bad = [
            ("qcow v1", qcow2(1, 1 << 20)),
            ("version 4", qcow2(4, 1 << 20)),
            ("aes", set(qcow2(2, 1 << 20), 32, &1u32.to_be_bytes())),
            ("luks", set(qcow2(3, 1 << 20), 32, &2u32.to_be_bytes())),
            ("dirty", set(qcow2(3, 1 << 20), 72, &1u64.to_be_bytes())),
            ("corrupt", set(qcow2(3, 1 << 20), 72, &2u64.to_be_bytes())),
            ("data file", set(qcow2(3, 1 << 20), 72, &4u64.to_be_bytes())),
            (
                "unknown bit",
                set(qcow2(3, 1 << 20), 72, &32u64.to_be_bytes()),
            ),
            (
                "short v3 header",
                set(qcow2(3, 1 << 20), 100, &72u32.to_be_bytes()),
            ),
            (
                "cluster bits",
                set(qcow2(2, 1 << 20), 20, &8u32.to_be_bytes()),
            ),
            ("odd size", qcow2(3, 1000)),
            ("huge size", qcow2(3, u64::MAX - 511)),
            ("truncated", qcow2(3, 1 << 20)[..80].to_vec()),
        ];
        for (what, h) in bad {
            assert_eq!(decide(&h, &[], 1 << 20, "/d/x"), None, "{what}");
        }
        // Compression type and extended L2 entries do not change the size.
        let h = set(qcow2(3, 1 << 20), 72, &24u64.to_be_bytes());
        assert_eq!(
            decide(&h, &[], 1 << 20, "/d/x"),
            Some(Quick::Qcow2(1 << 20))
        );
    }

    #[test]
    fn data_no_format_claims_is_raw_of_the_file_length() {
        let zeros = vec![0u8; HEAD];
        assert_eq!(
            decide(&zeros, &[0; 512], 5 << 20, "/d/a.img"),
            Some(Quick::Raw(5 << 20))
        );
        let iso = [b"\x33\xed\x90\x90".as_slice(), &[0; 100]].concat();
        assert_eq!(decide(&iso, &[], 104, "/d/a.iso"), Some(Quick::Raw(104)));
        assert_eq!(decide(b"", &[], 0, "/d/empty"), Some(Quick::Raw(0)));
        // gzip data taken as is (NO_DECOMPRESS) is raw to qemu-img too.
        assert_eq!(
            decide(b"\x1f\x8b\x08\0", &[], 4, "/d/a.gz"),
            Some(Quick::Raw(4))
        );
    }

    #[test]
    fn anything_another_format_could_claim_goes_to_qemu_img() {
        let mut heads: Vec<Vec<u8>> = OTHER_MAGICS
            .iter()
            .map(|m| [*m, &[0u8; 600][..]].concat())
            .collect();
        heads.push(b"# Disk DescriptorFile\nversion=1\n".to_vec());
        heads.push(b"  \nversion=1\n".to_vec());
        let mut vdi = vec![0u8; 512];
        vdi[0x40..0x44].copy_from_slice(&0xbeda107fu32.to_le_bytes());
        heads.push(vdi);
        for h in &heads {
            assert_eq!(decide(h, &[], 1 << 20, "/d/x"), None, "{:?}", &h[..8]);
        }
        let zeros = vec![0u8; HEAD];
        let koly = [b"koly".as_slice(), &[0; 508]].concat();
        assert_eq!(decide(&zeros, &koly, 1 << 20, "/d/x"), None, "dmg trailer");
        assert_eq!(decide(&zeros, &[], 1 << 20, "/d/x.dmg"), None, "dmg name");
        assert_eq!(decide(&zeros, &[], 1 << 20, "/d/x.DMG"), None, "dmg name");
        assert_eq!(
            decide(&zeros[..100], &[], 1 << 20, "/d/x"),
            None,
            "short read"
        );
    }
}
