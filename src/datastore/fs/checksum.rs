//! IMAGE/TEMPLATE/MD5 and SHA1, checked on the stream as it arrives, over
//! the bytes as downloaded (before decompression), as the reference does.
//! Unlike the reference, hex case does not matter and both sums are checked
//! when both are given.

use std::io::Read;

use md5::{Digest, Md5};
use sha1::Sha1;

use crate::dump::Element;
use crate::error::{Error, Result};

/// The checksums the image template asks for (lower-case hex).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub md5: Option<String>,
    pub sha1: Option<String>,
}

impl Expected {
    /// Reads and validates IMAGE/TEMPLATE/MD5 and SHA1.
    pub fn from_image(image: &Element) -> Result<Expected> {
        let read = |key: &str, digits: usize| -> Result<Option<String>> {
            let Some(v) = image.get(&format!("TEMPLATE/{key}")) else {
                return Ok(None);
            };
            let v = v.trim().to_ascii_lowercase();
            if v.len() != digits || !v.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(Error::Input(format!(
                    "IMAGE/TEMPLATE/{key} '{v}' is not a valid {key} checksum ({digits} hex digits): fix it in the image template"
                )));
            }
            Ok(Some(v))
        };
        Ok(Expected {
            md5: read("MD5", 32)?,
            sha1: read("SHA1", 40)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.sha1.is_none()
    }
}

/// Passes bytes through and hashes them with the requested algorithms.
pub struct Hashing<R> {
    inner: R,
    md5: Option<Md5>,
    sha1: Option<Sha1>,
    expected: Expected,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R, expected: Expected) -> Hashing<R> {
        Hashing {
            inner,
            md5: expected.md5.as_ref().map(|_| Md5::new()),
            sha1: expected.sha1.as_ref().map(|_| Sha1::new()),
            expected,
        }
    }

    /// Compares the sums of everything read so far with the expected ones.
    pub fn verify(&mut self, src: &str) -> Result<()> {
        let mut wrong = Vec::new();
        if let (Some(h), Some(want)) = (self.md5.take(), &self.expected.md5) {
            let got = hex::encode(h.finalize());
            if got != *want {
                wrong.push(format!("MD5 expected {want}, got {got}"));
            }
        }
        if let (Some(h), Some(want)) = (self.sha1.take(), &self.expected.sha1) {
            let got = hex::encode(h.finalize());
            if got != *want {
                wrong.push(format!("SHA1 expected {want}, got {got}"));
            }
        }
        if wrong.is_empty() {
            return Ok(());
        }
        Err(Error::failed(format!(
            "Checksum mismatch for {src}: {} (computed over the bytes as downloaded, before decompression): \
             fix IMAGE/TEMPLATE/MD5 or SHA1, or the source",
            wrong.join(", ")
        )))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.md5 {
            h.update(&buf[..n]);
        }
        if let Some(h) = &mut self.sha1 {
            h.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(t: &str) -> Element {
        Element::parse(&format!("<IMAGE><TEMPLATE>{t}</TEMPLATE></IMAGE>"), "i").unwrap()
    }

    #[test]
    fn both_sums_any_case() {
        let e = Expected::from_image(&image(
            "<MD5>5D41402ABC4B2A76B9719D911017C592</MD5>\
             <SHA1><![CDATA[aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d]]></SHA1>",
        ))
        .unwrap();
        let mut h = Hashing::new(&b"hello"[..], e.clone());
        std::io::copy(&mut h, &mut std::io::sink()).unwrap();
        h.verify("src").unwrap();

        let mut h = Hashing::new(&b"hellO"[..], e);
        std::io::copy(&mut h, &mut std::io::sink()).unwrap();
        let msg = h.verify("src").unwrap_err().to_string();
        assert!(
            msg.contains("MD5 expected 5d41402abc4b2a76b9719d911017c592, got"),
            "{msg}"
        );
        assert!(msg.contains("SHA1 expected aaf4c61d"), "{msg}");
    }

    #[test]
    fn malformed_sums_are_refused() {
        let e = Expected::from_image(&image("<MD5>xyz</MD5>")).unwrap_err();
        assert!(e.to_string().contains("IMAGE/TEMPLATE/MD5"), "{e}");
        assert!(Expected::from_image(&image("")).unwrap().is_empty());
    }
}
