//! In-process SSH with libssh2: one TCP connection and one SSH session per
//! host for the whole action, one exec channel per command.
//!
//! The host comes from the operator's ssh_config ([`sshconfig`]); its key is
//! checked against the known_hosts files ([`knownhosts`]); login is by the
//! agent, then the identity files. Hosts reached through ProxyJump or
//! ProxyCommand need the system client (`SSH_TRANSPORT=ssh`).

mod login;
mod pump;

use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::io::{AsRawFd, RawFd};

use ::ssh2::{MethodType, Session};

use super::sshconfig::{self, ResolvedHost};
use super::{Io, Output, SshSettings, Transport};
use crate::command::Cmd;
use crate::error::{Error, Result};

/// Ciphers by the CPU libssh2 spends per byte (measured on loopback):
/// chacha20-poly1305 is done a whole packet at a time, while libssh2 feeds
/// AES to OpenSSL one 16-byte block per call, GCM costliest.
const CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "aes192-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
];

pub struct Ssh2 {
    target: ResolvedHost,
    settings: SshSettings,
    /// `None` after a failure left the session unusable: the next command reconnects.
    conn: Option<Conn>,
}

struct Conn {
    session: Session,
    /// The socket the session owns, for poll(2).
    fd: RawFd,
}

impl Ssh2 {
    pub fn connect(host: &str, settings: &SshSettings) -> Result<Ssh2> {
        super::check_host_name(host)?;
        let target = sshconfig::resolve(host, settings)?;
        if let Some(proxy) = &target.proxy {
            let conf = match &settings.driver_conf {
                Some(p) => p.display().to_string(),
                None => "the driver configuration".to_string(),
            };
            return Err(Error::Ssh(format!(
                "{host} uses {proxy} in ssh_config, which the ssh2 transport cannot honour: \
                 set SSH_TRANSPORT=ssh in {conf} to use the system ssh client"
            )));
        }
        let conn = open(&target)?;
        Ok(Ssh2 {
            target,
            settings: settings.clone(),
            conn: Some(conn),
        })
    }
}

/// The host as messages name it: `lab1 (127.0.0.11 port 2222)`.
fn describe(t: &ResolvedHost) -> String {
    if t.hostname == t.alias && t.port == 22 {
        t.alias.clone()
    } else {
        format!("{} ({} port {})", t.alias, t.hostname, t.port)
    }
}

fn open(t: &ResolvedHost) -> Result<Conn> {
    let who = describe(t);
    let tcp = tcp_connect(t)?;
    let fd = tcp.as_raw_fd();
    let failed =
        |what: &str, e: ::ssh2::Error| Error::Ssh(format!("{what} {who}: {}", e.message()));
    let mut session = Session::new().map_err(|e| failed("cannot start SSH with", e))?;
    session.set_tcp_stream(tcp);
    // Bounds each blocking step of the handshake and login.
    session.set_timeout(millis(t.connect_timeout));
    let known = super::knownhosts::KnownHosts::load(&login::known_hosts_files(t));
    prefer_methods(&session, t, &known);
    session
        .handshake()
        .map_err(|e| failed("SSH handshake failed with", e))?;
    login::verify_host_key(&session, t, &known)?;
    login::authenticate(&session, t)?;
    session.set_keepalive(true, t.keepalive.as_secs().min(u32::MAX as u64) as u32);
    session.set_timeout(0);
    session.set_blocking(false);
    log::debug!("connected to {who} as {}", t.user);
    Ok(Conn { session, fd })
}

/// Tries every address of the host in turn, each within ConnectTimeout.
fn tcp_connect(t: &ResolvedHost) -> Result<TcpStream> {
    let who = describe(t);
    let addrs: Vec<_> = (t.hostname.as_str(), t.port)
        .to_socket_addrs()
        .map_err(|e| Error::Ssh(format!("cannot resolve {who}: {e}")))?
        .collect();
    let mut errors = Vec::new();
    for a in &addrs {
        match TcpStream::connect_timeout(a, t.connect_timeout) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => errors.push(format!("{a}: {e}")),
        }
    }
    Err(Error::Ssh(format!(
        "cannot connect to {who}: {} (ConnectTimeout {} s)",
        errors.join(", "),
        t.connect_timeout.as_secs()
    )))
}

/// Asks for the host key types known_hosts holds for this host (as ssh does,
/// so that a host with several keys is not taken for a changed one), and for
/// fast ciphers.
fn prefer_methods(s: &Session, t: &ResolvedHost, known: &super::knownhosts::KnownHosts) {
    let name = super::knownhosts::host_name(&t.hostname, t.port);
    let mut wanted: Vec<String> = Vec::new();
    for kind in known.key_types(&name) {
        match kind.as_str() {
            "ssh-rsa" => {
                wanted.extend(["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"].map(String::from))
            }
            _ => wanted.push(kind),
        }
    }
    set_pref(s, MethodType::HostKey, &wanted);
    let ciphers: Vec<String> = CIPHERS.iter().map(|c| c.to_string()).collect();
    set_pref(s, MethodType::CryptCs, &ciphers);
    set_pref(s, MethodType::CryptSc, &ciphers);
}

/// Puts the `wanted` methods libssh2 supports first, keeping all the others.
fn set_pref(s: &Session, kind: MethodType, wanted: &[String]) {
    let supported = s.supported_algs(kind).unwrap_or_default();
    let mut order: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|w| supported.contains(w))
        .collect();
    let rest: Vec<&str> = supported
        .iter()
        .copied()
        .filter(|a| !order.contains(a))
        .collect();
    order.extend(rest);
    if order.is_empty() {
        return;
    }
    if let Err(e) = s.method_pref(kind, &order.join(",")) {
        log::debug!(
            "libssh2 refused the method preference {}: {e}",
            order.join(",")
        );
    }
}

fn millis(d: std::time::Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

impl Transport for Ssh2 {
    fn exec(&mut self, cmd: &Cmd, io: Io<'_>) -> Result<Output> {
        let conn = match &mut self.conn {
            Some(c) => c,
            None => {
                log::info!("reconnecting to {}", describe(&self.target));
                self.conn.insert(open(&self.target)?)
            }
        };
        let deadline = cmd.get_timeout().unwrap_or(self.settings.command_timeout);
        let line = super::remote_line(cmd, deadline);
        match pump::run(&conn.session, conn.fd, &line, io, deadline) {
            Ok(done) => {
                if !done.reusable {
                    self.conn = None;
                }
                Ok(done.output)
            }
            Err(e) => {
                self.conn = None;
                Err(match e {
                    pump::Failure::Ssh(m) => Error::Ssh(format!(
                        "lost the connection to {} while running {}: {m}",
                        describe(&self.target),
                        cmd.program()
                    )),
                    pump::Failure::Local(e) => e,
                })
            }
        }
    }
}

impl Drop for Ssh2 {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.session.set_blocking(true);
            c.session.set_timeout(2000);
            let _ = c.session.disconnect(None, "done", None);
        }
    }
}
