//! The one pipeline every copy goes through, whatever the sink:
//! source (throttled) → progress bar → checksums → decompression.
//! It remembers why it failed, so the operator reads the real cause (a 503,
//! corrupt gzip data) rather than "broken pipe" from the sink.

use std::io::{self, IsTerminal, Read};

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

use super::checksum::{Expected, Hashing};
use super::decompress::{self, Compression, Decoder, Peeked};
use super::source::{source_error, Source, StreamSettings};
use crate::error::{Error, Result};

type Raw = Hashing<Box<dyn Read + Send>>;

pub struct Pipeline {
    decoder: Decoder<Peeked<Raw>>,
    src: String,
    pub compression: Option<Compression>,
    failure: Option<Error>,
    eof: bool,
}

impl Pipeline {
    /// Opens the source and identifies its compression from the first bytes.
    pub fn open(src: &Source, s: &StreamSettings, expected: Expected) -> Result<Pipeline> {
        let opened = src.open(s, "copy image from")?;
        // Before the progress bar, which owns the terminal from then on.
        match src {
            Source::Local(p) => log::info!(
                "Copying local image {} to the image repository",
                p.display()
            ),
            Source::Http(u) => log::info!("Downloading image {u} to the image repository"),
        }
        let raw = Hashing::new(progress(opened.reader, opened.len), expected);
        let name = src.to_string();
        let (head, chain) = decompress::peek(raw).map_err(|e| read_error(&name, None, e))?;
        let compression = Compression::detect(&head).filter(|_| s.decompress);
        if let Some(c) = compression {
            log::info!("{name} is {}-compressed: decompressing it", c.name());
        } else if let Some(kind) = decompress::archive(&head) {
            log::info!("{name} is a {kind} archive: stored as one file, not unpacked");
        }
        Ok(Pipeline {
            decoder: Decoder::new(chain, compression),
            src: name,
            compression,
            failure: None,
            eof: false,
        })
    }

    /// The reason the stream failed, if it did.
    pub fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }

    /// After the sink took everything: reads what the decompressor left
    /// (so the checksum covers every byte) and checks the checksums.
    pub fn finish(&mut self) -> Result<()> {
        if let Some(e) = self.failure.take() {
            return Err(e);
        }
        if !self.eof {
            return Err(Error::failed(format!(
                "The copy of {} stopped before the end of the data",
                self.src
            )));
        }
        let raw = self.decoder.get_mut().get_mut().1;
        io::copy(raw, &mut io::sink()).map_err(|e| read_error(&self.src, None, e))?;
        raw.verify(&self.src)
    }
}

impl Read for Pipeline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.decoder.read(buf) {
            Ok(0) if !buf.is_empty() => {
                self.eof = true;
                Ok(0)
            }
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let err = read_error(&self.src, self.compression, e);
                let msg = err.summary();
                self.failure = Some(err);
                Err(io::Error::other(msg))
            }
        }
    }
}

/// The source's own error, or a decompression error naming the fix.
pub fn read_error(src: &str, c: Option<Compression>, e: io::Error) -> Error {
    match (source_error(e), c) {
        (Ok(err), _) => err,
        (Err(e), Some(c)) => Error::failed(format!(
            "Cannot decompress {src} ({} data): {e}: the file is corrupt or truncated; \
             set NO_DECOMPRESS=yes in the datastore template to take it as is",
            c.name()
        )),
        (Err(e), None) => Error::io(format!("reading {src}"), e),
    }
}

/// A progress bar on the raw bytes, for people watching a long copy in a
/// terminal; never when stderr is a pipe (oned, tests, scripts).
fn progress(r: Box<dyn Read + Send>, len: Option<u64>) -> Box<dyn Read + Send> {
    const LONG: u64 = 256 << 20;
    if !io::stderr().is_terminal() || len.is_some_and(|l| l < LONG) {
        return r;
    }
    let bar = match len {
        Some(l) => ProgressBar::new(l).with_style(
            ProgressStyle::with_template(
                "{bytes}/{total_bytes} {wide_bar} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner(),
    };
    Box::new(bar.with_finish(ProgressFinish::AndClear).wrap_read(r))
}
