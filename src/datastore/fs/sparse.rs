//! Writes an image file the way it should land on disk: all-zero blocks
//! become holes (skipped, never written) and the length is set at the end,
//! so a 1 GiB image holding 10 MiB of data allocates about 10 MiB. This
//! replaces the reference's copy-then-`fallocate -d`. SPARSE=no writes
//! every byte (allocated = apparent size).

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::FileExt;

/// Hole granularity: the usual filesystem block.
const BLOCK: usize = 4096;
/// Bytes gathered before they are written.
const BUFFER: usize = 1 << 20;
/// Compared with a block by `memcmp`, fast even in a debug build.
static ZERO: [u8; BLOCK] = [0; BLOCK];

pub struct SparseWriter {
    file: File,
    sparse: bool,
    /// Where `buf` starts in the file.
    pos: u64,
    buf: Vec<u8>,
}

impl SparseWriter {
    /// `file` must be new and empty.
    pub fn new(file: File, sparse: bool) -> SparseWriter {
        SparseWriter {
            file,
            sparse,
            pos: 0,
            buf: Vec::with_capacity(BUFFER),
        }
    }

    fn write_buf(&mut self) -> io::Result<()> {
        if !self.sparse {
            self.file.write_all_at(&self.buf, self.pos)?;
        } else {
            let mut run: Option<usize> = None;
            for (i, block) in self.buf.chunks(BLOCK).enumerate() {
                let zero = block == &ZERO[..block.len()];
                match (zero, run) {
                    (false, None) => run = Some(i * BLOCK),
                    (true, Some(start)) => {
                        self.file
                            .write_all_at(&self.buf[start..i * BLOCK], self.pos + start as u64)?;
                        run = None;
                    }
                    _ => {}
                }
            }
            if let Some(start) = run {
                self.file
                    .write_all_at(&self.buf[start..], self.pos + start as u64)?;
            }
        }
        self.pos += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Writes what is left, sets the final length and syncs; returns the size.
    pub fn finish(mut self) -> io::Result<u64> {
        self.write_buf()?;
        self.file.set_len(self.pos)?;
        self.file.sync_all()?;
        Ok(self.pos)
    }
}

impl Write for SparseWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BUFFER - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BUFFER {
            self.write_buf()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn write(sparse: bool, data: &[u8]) -> (Vec<u8>, u64) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("img");
        let mut w = SparseWriter::new(File::create_new(&p).unwrap(), sparse);
        for chunk in data.chunks(70_000) {
            w.write_all(chunk).unwrap();
        }
        assert_eq!(w.finish().unwrap(), data.len() as u64);
        (
            std::fs::read(&p).unwrap(),
            std::fs::metadata(&p).unwrap().blocks() * 512,
        )
    }

    #[test]
    fn zeros_become_holes_and_content_is_exact() {
        let mut data = vec![0u8; 8 << 20];
        data[5000..9000].fill(1);
        data[3 << 20] = 2;
        *data.last_mut().unwrap() = 3;
        let (got, allocated) = write(true, &data);
        assert_eq!(got, data);
        assert!(allocated <= 256 << 10, "allocated {allocated}");
        let (got, allocated) = write(false, &data);
        assert_eq!(got, data);
        assert!(allocated >= 8 << 20, "allocated {allocated}");
    }

    #[test]
    fn trailing_zeros_keep_the_length() {
        let (got, allocated) = write(true, &vec![0u8; 3 << 20]);
        assert_eq!(got.len(), 3 << 20);
        assert_eq!(allocated, 0);
    }
}
