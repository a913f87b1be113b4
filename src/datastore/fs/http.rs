//! http(s) sources, downloaded in-process with ureq and streamed (no temp
//! copy, no second GET to sniff the type as the reference's downloader did).
//!
//! Transient failures (connection errors, stalls, 408, 429, 5xx) are retried
//! with exponential backoff, at most DOWNLOAD_RETRIES times and never past
//! DOWNLOAD_RETRY_MAX_TIME seconds after the first failure. A transfer that
//! breaks mid-body resumes with a Range request where the server allows it.
//! 4xx answers (404, 403, ...) fail at once. TLS certificates are verified
//! against DOWNLOAD_CA_FILE, else the system bundle, else Mozilla's roots;
//! DOWNLOAD_TLS_VERIFY=no accepts any certificate, as the reference's
//! `curl -k` did.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ureq::config::AutoHeaderValue;
use ureq::http::Response;
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Body};

use crate::config::Config;
use crate::error::{Error, Result};

const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub retries: u32,
    pub first_delay: Duration,
    pub retry_time: Duration,
    pub stall: Duration,
    pub connect: Duration,
    pub tls_verify: bool,
    pub ca_file: Option<PathBuf>,
}

impl HttpSettings {
    pub fn from_conf(conf: &Config) -> Result<HttpSettings> {
        let retries = conf
            .get_or("DOWNLOAD_RETRIES", "3")
            .trim()
            .parse::<u32>()
            .map_err(|_| conf.invalid("DOWNLOAD_RETRIES", "a number of retries (0 for none)"))?;
        let first_delay = match conf.get("DOWNLOAD_RETRY_DELAY") {
            None => Duration::from_secs(1),
            Some(v) => v
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0 && *s <= 3600.0)
                .map(Duration::from_secs_f64)
                .ok_or_else(|| conf.invalid("DOWNLOAD_RETRY_DELAY", "seconds (e.g. 1 or 0.5)"))?,
        };
        Ok(HttpSettings {
            retries,
            first_delay,
            retry_time: conf.seconds("DOWNLOAD_RETRY_MAX_TIME", 120)?,
            stall: conf.seconds("DOWNLOAD_STALL_TIMEOUT", 60)?,
            connect: conf.seconds("DOWNLOAD_CONNECT_TIMEOUT", 30)?,
            tls_verify: conf.flag("DOWNLOAD_TLS_VERIFY", true)?,
            ca_file: conf.get("DOWNLOAD_CA_FILE").map(PathBuf::from),
        })
    }

    fn agent(&self) -> Result<Agent> {
        let tls = TlsConfig::builder()
            .root_certs(self.roots()?)
            .disable_verification(!self.tls_verify)
            .build();
        Ok(Agent::config_builder()
            .http_status_as_error(false)
            // The bytes as stored: checksums cover them, not a re-encoding.
            .accept_encoding(AutoHeaderValue::None)
            .user_agent(concat!("one-storage/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(self.connect))
            .timeout_recv_response(Some(self.stall))
            .timeout_per_read(Some(self.stall))
            .tls_config(tls)
            .build()
            .new_agent())
    }

    fn roots(&self) -> Result<RootCerts> {
        let (file, explicit) = match &self.ca_file {
            Some(f) => (f.clone(), true),
            None => match SYSTEM_CA_FILES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
            {
                Some(f) => (f, false),
                None => return Ok(RootCerts::WebPki),
            },
        };
        let pem = std::fs::read(&file);
        let certs: Vec<_> = pem
            .as_deref()
            .map(|p| {
                ureq::tls::parse_pem(p)
                    .filter_map(|i| match i {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        match (certs.is_empty(), explicit) {
            (false, _) => Ok(RootCerts::new_with_certs(&certs)),
            (true, false) => Ok(RootCerts::WebPki),
            (true, true) => Err(Error::Config(format!(
                "DOWNLOAD_CA_FILE={} holds no PEM certificate{}: point it at a CA bundle",
                file.display(),
                pem.err().map(|e| format!(" ({e})")).unwrap_or_default()
            ))),
        }
    }
}

/// Why one attempt failed.
pub enum Fail {
    /// Worth another try: the reason and the server's Retry-After.
    Transient(String, Option<Duration>),
    Fatal(Error),
}

/// Requests to one URL sharing one retry budget.
pub struct Client {
    agent: Agent,
    s: HttpSettings,
    pub url: String,
    retried: u32,
    first_failure: Option<Instant>,
}

impl Client {
    pub fn new(url: &str, s: &HttpSettings) -> Result<Client> {
        Ok(Client {
            agent: s.agent()?,
            s: s.clone(),
            url: url.to_string(),
            retried: 0,
            first_failure: None,
        })
    }

    /// A GET (or HEAD) with extra headers, retried while failures are transient.
    pub fn send(&mut self, head: bool, headers: &[(&str, &str)]) -> Result<Response<Body>> {
        loop {
            match self.once(head, headers) {
                Ok(r) => return Ok(r),
                Err(Fail::Fatal(e)) => return Err(e),
                Err(Fail::Transient(why, after)) => self.backoff(why, after)?,
            }
        }
    }

    fn once(&self, head: bool, headers: &[(&str, &str)]) -> Result<Response<Body>, Fail> {
        let mut req = if head {
            self.agent.head(&self.url)
        } else {
            self.agent.get(&self.url)
        };
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.call().map_err(|e| self.classify(e))?;
        let code = resp.status().as_u16();
        match code {
            200..=299 | 416 => Ok(resp),
            408 | 429 | 500..=599 => {
                let after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
                    .map(|s| Duration::from_secs(s.min(60)));
                Err(Fail::Transient(
                    format!("the server answered {}", status_text(code)),
                    after,
                ))
            }
            _ => {
                let hint = match code {
                    404 | 410 => "check IMAGE/PATH",
                    401 | 403 => "the server refuses access; one-storage sends no credentials",
                    _ => "check IMAGE/PATH and the server",
                };
                Err(Fail::Fatal(Error::failed(format!(
                    "Cannot download {}: the server answered {}: {hint}",
                    self.url,
                    status_text(code)
                ))))
            }
        }
    }

    fn classify(&self, e: ureq::Error) -> Fail {
        let fatal = |why: String| {
            Fail::Fatal(Error::failed(format!(
                "Cannot download {}: {why}",
                self.url
            )))
        };
        match e {
            // rustls reports a refused certificate as invalid data on the socket.
            ureq::Error::Io(ref io) if io.kind() == std::io::ErrorKind::InvalidData => fatal(format!(
                "TLS failed ({io}): set DOWNLOAD_CA_FILE to the CA bundle that signed the server's certificate, \
                 or DOWNLOAD_TLS_VERIFY=no in the datastore template to accept it unchecked"
            )),
            ureq::Error::Tls(_) | ureq::Error::Rustls(_) | ureq::Error::Pem(_) => fatal(format!(
                "TLS failed ({e}): set DOWNLOAD_CA_FILE to the CA bundle that signed the server's certificate, \
                 or DOWNLOAD_TLS_VERIFY=no in the datastore template to accept it unchecked"
            )),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
                fatal(format!("it is not a valid URL ({e}): fix IMAGE/PATH"))
            }
            ureq::Error::HostNotFound => fatal("the host name does not resolve: check IMAGE/PATH and the front-end's DNS".into()),
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                fatal(format!("redirects failed ({e})"))
            }
            other => Fail::Transient(describe(&other), None),
        }
    }

    /// Sleeps before the next attempt, or fails when the budget is spent.
    pub fn backoff(&mut self, why: String, after: Option<Duration>) -> Result<()> {
        let start = *self.first_failure.get_or_insert_with(Instant::now);
        let delay = self
            .s
            .first_delay
            .saturating_mul(1 << self.retried.min(5))
            .min(Duration::from_secs(30))
            .max(after.unwrap_or_default());
        if self.retried >= self.s.retries || start.elapsed() + delay > self.s.retry_time {
            return Err(Error::failed(format!(
                "Cannot download {}: {why} (gave up after {} attempt{} in {:.1} s; DOWNLOAD_RETRIES={}, DOWNLOAD_RETRY_MAX_TIME={})",
                self.url,
                self.retried + 1,
                if self.retried == 0 { "" } else { "s" },
                start.elapsed().as_secs_f64(),
                self.s.retries,
                self.s.retry_time.as_secs(),
            )));
        }
        self.retried += 1;
        log::info!(
            "Download of {} failed ({why}); retry {} of {} in {:.1} s",
            self.url,
            self.retried,
            self.s.retries,
            delay.as_secs_f64()
        );
        std::thread::sleep(delay);
        Ok(())
    }
}

fn status_text(code: u16) -> String {
    let reason = ureq::http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{code} {reason}").trim().to_string()
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::ConnectionFailed => "the connection failed".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused".into()
        }
        ureq::Error::Io(io) => format!("the connection broke ({io})"),
        other => other.to_string(),
    }
}

/// The Content-Length a HEAD request reports.
pub fn content_length(url: &str, s: &HttpSettings) -> Result<Option<u64>> {
    let resp = Client::new(url, s)?.send(true, &[])?;
    Ok(resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok()?.trim().parse().ok()))
}
