//! The body of a download as a `Read` that survives a broken connection:
//! it asks for the rest with `Range: bytes=N-` (and `If-Range`, so a file
//! that changed on the server is never spliced), or, from a server without
//! ranges, fetches it again and skips what it already had. Every failure
//! draws on the same retry budget as the first request.

use std::io::{self, Read};

use ureq::http::Response;
use ureq::{Body, BodyReader};

use super::http::{Client, HttpSettings};
use crate::error::{Error, Result};

pub struct Download {
    client: Client,
    body: Option<BodyReader<'static>>,
    /// Bytes handed out so far.
    offset: u64,
    /// Bytes of a fresh (non-range) body still to throw away.
    skip: u64,
    /// The full size, when the server said.
    pub len: Option<u64>,
    validator: Option<String>,
}

impl Download {
    /// Sends the GET; fails here (before anything is written) on 404 and the like.
    pub fn open(url: &str, s: &HttpSettings) -> Result<Download> {
        let mut client = Client::new(url, s)?;
        let resp = client.send(false, &[])?;
        let len = resp.body().content_length();
        let validator = validator(&resp);
        Ok(Download {
            client,
            body: Some(resp.into_body().into_reader()),
            offset: 0,
            skip: 0,
            len,
            validator,
        })
    }

    fn resume(&mut self) -> Result<()> {
        let range = format!("bytes={}-", self.offset);
        let mut headers = vec![("Range", range.as_str())];
        if let Some(v) = &self.validator {
            headers.push(("If-Range", v.as_str()));
        }
        let resp = self.client.send(false, &headers)?;
        let changed = || {
            Error::failed(format!(
                "Cannot download {}: the file changed on the server during the download; register it again",
                self.client.url
            ))
        };
        match resp.status().as_u16() {
            206 => {
                let start = resp
                    .headers()
                    .get("content-range")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes "))
                    .and_then(|v| v.split('-').next()?.trim().parse::<u64>().ok());
                if start != Some(self.offset) {
                    return Err(Error::failed(format!(
                        "Cannot download {}: asked to resume at byte {}, the server sent another range",
                        self.client.url, self.offset
                    )));
                }
                self.skip = 0;
            }
            200 => {
                if validator(&resp) != self.validator || resp.body().content_length() != self.len {
                    return Err(changed());
                }
                self.skip = self.offset;
            }
            _ => return Err(changed()),
        }
        self.body = Some(resp.into_body().into_reader());
        Ok(())
    }

    /// A transient failure of the body: wait and reconnect, or give up.
    fn broke(&mut self, why: String) -> io::Result<()> {
        self.body = None;
        self.client.backoff(why, None).map_err(io::Error::other)
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.body.is_none() {
                self.resume().map_err(io::Error::other)?;
            }
            let Some(body) = self.body.as_mut() else {
                continue;
            };
            let want = if self.skip > 0 {
                buf.len().min(self.skip.try_into().unwrap_or(usize::MAX))
            } else {
                buf.len()
            };
            match body.read(&mut buf[..want]) {
                Ok(0)
                    if want > 0 && (self.skip > 0 || self.len.is_some_and(|l| self.offset < l)) =>
                {
                    let why = format!(
                        "the connection closed after {} of {} bytes",
                        self.offset,
                        self.len.unwrap_or_default()
                    );
                    self.broke(why)?;
                }
                Ok(n) if self.skip > 0 => self.skip -= n as u64,
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let why = format!("the transfer broke after {} bytes ({e})", self.offset);
                    self.broke(why)?;
                }
            }
        }
    }
}

fn validator(resp: &Response<Body>) -> Option<String> {
    ["etag", "last-modified"].iter().find_map(|h| {
        let v = resp.headers().get(*h)?.to_str().ok()?;
        // A weak ETag cannot be used in If-Range.
        (!v.starts_with("W/")).then(|| v.to_string())
    })
}
