//! Compressed sources (gzip, bzip2, xz), recognised by their magic bytes
//! rather than by a MIME sniffer that fetched the source a second time, and
//! decompressed on the stream. All members of a multi-member file are read,
//! as `gunzip -c` does. Archives (tar, zip) are recognised only to say so:
//! they are stored as one file, never unpacked into a directory on an image
//! datastore (the reference turned them into a directory qemu-img refused).

use std::io::{self, Read};

use flate2::read::MultiGzDecoder;

/// How many leading bytes identify a format (tar's magic sits at 257).
pub const MAGIC_LEN: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Bzip2,
    Xz,
}

impl Compression {
    pub fn detect(head: &[u8]) -> Option<Compression> {
        if head.starts_with(&[0x1f, 0x8b]) {
            Some(Compression::Gzip)
        } else if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
            Some(Compression::Bzip2)
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some(Compression::Xz)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        }
    }
}

/// `tar` or `zip` when the data is an archive.
pub fn archive(head: &[u8]) -> Option<&'static str> {
    if head.get(257..262) == Some(b"ustar") {
        Some("tar")
    } else if head.starts_with(b"PK\x03\x04") {
        Some("zip")
    } else {
        None
    }
}

/// Reads until `buf` is full or the stream ends; returns the count.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A stream whose first bytes were read ahead and are served again.
pub type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// The first bytes of `r` and a reader that still yields all of it.
pub fn peek<R: Read>(mut r: R) -> io::Result<(Vec<u8>, Peeked<R>)> {
    let mut head = vec![0u8; MAGIC_LEN];
    let n = read_full(&mut r, &mut head)?;
    head.truncate(n);
    Ok((head.clone(), io::Cursor::new(head).chain(r)))
}

/// A stream, decompressed or passed through.
pub enum Decoder<R: Read> {
    Plain(R),
    Gzip(MultiGzDecoder<R>),
    Bzip2(bzip2::read::MultiBzDecoder<R>),
    Xz(xz2::read::XzDecoder<R>),
}

impl<R: Read> Decoder<R> {
    pub fn new(r: R, c: Option<Compression>) -> Decoder<R> {
        match c {
            None => Decoder::Plain(r),
            Some(Compression::Gzip) => Decoder::Gzip(MultiGzDecoder::new(r)),
            Some(Compression::Bzip2) => Decoder::Bzip2(bzip2::read::MultiBzDecoder::new(r)),
            Some(Compression::Xz) => Decoder::Xz(xz2::read::XzDecoder::new_multi_decoder(r)),
        }
    }

    /// The compressed stream underneath (to read what the decoder left).
    pub fn get_mut(&mut self) -> &mut R {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Bzip2(d) => d.get_mut(),
            Decoder::Xz(d) => d.get_mut(),
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Bzip2(d) => d.read(buf),
            Decoder::Xz(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(c: Compression, data: &[u8]) -> Vec<u8> {
        let packed = match c {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            Compression::Xz => {
                let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
        };
        let (head, r) = peek(&packed[..]).unwrap();
        assert_eq!(Compression::detect(&head), Some(c));
        let mut out = Vec::new();
        Decoder::new(r, Some(c)).read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn every_compression_roundtrips() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for c in [Compression::Gzip, Compression::Bzip2, Compression::Xz] {
            assert_eq!(roundtrip(c, &data), data, "{}", c.name());
        }
    }

    #[test]
    fn plain_data_and_archives() {
        assert_eq!(Compression::detect(b"QFI\xfb\0\0\0\x03"), None);
        assert_eq!(Compression::detect(b"BZh"), None);
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(archive(&tar), Some("tar"));
        assert_eq!(archive(b"PK\x03\x04rest"), Some("zip"));
        assert_eq!(archive(b"plain"), None);
    }
}
