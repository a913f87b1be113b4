//! LIMIT_TRANSFER_BW: a bandwidth cap for every source, local files
//! included (the reference only passed it to curl). Written like curl's
//! `--limit-rate`: bytes per second with an optional k/M/G/T suffix
//! (powers of 1024), e.g. `10M`, `512k`, `1.5M`, `100000`.

use std::io::Read;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::Result;

/// Bytes per second from LIMIT_TRANSFER_BW; `None` when unset or 0.
pub fn rate_from(conf: &Config) -> Result<Option<u64>> {
    match conf.get("LIMIT_TRANSFER_BW") {
        None => Ok(None),
        Some(v) => parse_rate(v).ok_or_else(|| {
            conf.invalid(
                "LIMIT_TRANSFER_BW",
                "bytes per second, optionally with a k, M, G or T suffix (e.g. 10M)",
            )
        }),
    }
}

pub fn parse_rate(v: &str) -> Option<Option<u64>> {
    let v = v.trim();
    let (num, mult) = match v.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                _ => return None,
            };
            (&v[..i], m)
        }
        _ => (v, 1),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let bytes = (n * mult as f64) as u64;
    Some((bytes > 0).then_some(bytes))
}

/// Reads no faster than `rate` bytes per second on average. Reads are cut
/// to a tenth of a second's worth, so the pace stays smooth.
pub struct Throttled<R> {
    inner: R,
    rate: u64,
    start: Instant,
    done: u64,
}

impl<R: Read> Throttled<R> {
    pub fn new(inner: R, rate: u64) -> Throttled<R> {
        Throttled {
            inner,
            rate,
            start: Instant::now(),
            done: 0,
        }
    }
}

impl<R: Read> Read for Throttled<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let due = Duration::from_secs_f64(self.done as f64 / self.rate as f64);
        if let Some(wait) = due.checked_sub(self.start.elapsed()) {
            std::thread::sleep(wait);
        }
        let max = ((self.rate / 10).max(1) as usize).min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        self.done += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_rate_syntax() {
        assert_eq!(parse_rate("10M"), Some(Some(10 << 20)));
        assert_eq!(parse_rate("512k"), Some(Some(512 << 10)));
        assert_eq!(parse_rate("1.5m"), Some(Some(3 << 19)));
        assert_eq!(parse_rate("100000"), Some(Some(100000)));
        assert_eq!(parse_rate("0"), Some(None));
        for bad in ["", "M", "10X", "-1", "ten", "1 0"] {
            assert_eq!(parse_rate(bad), None, "{bad}");
        }
    }

    #[test]
    fn throttled_reads_keep_the_pace() {
        let data = vec![7u8; 200_000];
        let start = Instant::now();
        let mut r = Throttled::new(&data[..], 1_000_000);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        let t = start.elapsed();
        assert!(t >= Duration::from_millis(150), "{t:?}");
        assert!(t < Duration::from_secs(2), "{t:?}");
    }
}
