//! Trusting the host (known_hosts, StrictHostKeyChecking) and logging in
//! (the agent, then the identity files), each failure on one line that says
//! what to fix.

use std::path::{Path, PathBuf};

use ::ssh2::Session;

use super::describe;
use crate::command::quote;
use crate::error::{Error, Result};
use crate::transport::knownhosts::{self, Check, KnownHosts};
use crate::transport::sshconfig::{ResolvedHost, Strict};

pub(super) fn known_hosts_files(t: &ResolvedHost) -> Vec<PathBuf> {
    let mut f = t.known_hosts_files.clone();
    f.extend(t.global_known_hosts_files.iter().cloned());
    f
}

pub(super) fn verify_host_key(s: &Session, t: &ResolvedHost, known: &KnownHosts) -> Result<()> {
    let who = describe(t);
    let Some((key, _)) = s.host_key() else {
        return Err(Error::Ssh(format!("{who} sent no host key")));
    };
    let name = knownhosts::host_name(&t.hostname, t.port);
    match known.check(&name, key) {
        Check::Match => Ok(()),
        Check::Revoked { file, line } => Err(Error::Ssh(format!(
            "the host key of {who} is marked @revoked in {} (line {line}): refusing to connect",
            file.display()
        ))),
        Check::Changed { file, line } if t.strict != Strict::No => Err(Error::Ssh(format!(
            "the host key of {who} has CHANGED since it was recorded in {} (line {line}): \
             if the host was reinstalled, remove the stale key with ssh-keygen -R {} -f {} \
             and retry; otherwise someone may be intercepting the connection",
            file.display(),
            quote(&name),
            quote(&file.to_string_lossy()),
        ))),
        Check::Changed { file, line } => {
            log::warn!(
                "the host key of {who} differs from {} line {line}; \
                 connecting anyway as StrictHostKeyChecking is no",
                file.display()
            );
            Ok(())
        }
        Check::Unknown if t.strict == Strict::Yes => {
            let file = t.known_hosts_files.first().map(|f| f.to_string_lossy());
            let file = file.as_deref().unwrap_or("~/.ssh/known_hosts");
            Err(Error::Ssh(format!(
                "the host key of {who} is not in known_hosts and StrictHostKeyChecking is yes \
                 (from ssh_config, else SSH_STRICT_HOST_KEY_CHECKING): add it with \
                 ssh-keyscan -p {} {} >> {}, or allow new keys with accept-new",
                t.port,
                quote(&t.hostname),
                quote(file)
            )))
        }
        Check::Unknown => {
            let Some(file) = t.known_hosts_files.first() else {
                log::debug!("not recording the host key of {who}: UserKnownHostsFile is none");
                return Ok(());
            };
            knownhosts::append(file, &name, key, t.hash_known_hosts)?;
            log::info!(
                "recorded the new host key of {who} ({}) in {}",
                knownhosts::key_type(key).unwrap_or("unknown type"),
                file.display()
            );
            Ok(())
        }
    }
}

/// The agent first (as ssh does), then each identity file that exists.
pub(super) fn authenticate(s: &Session, t: &ResolvedHost) -> Result<()> {
    let mut tried = Vec::new();
    if std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match agent_login(s, t) {
            Ok(true) => return Ok(()),
            Ok(false) => tried.push("the agent's keys".to_string()),
            Err(e) => tried.push(format!("the agent ({})", e.message())),
        }
    }
    for key in t.identity_files.iter().filter(|f| f.is_file()) {
        let public = public_key_file(key);
        match s.userauth_pubkey_file(&t.user, public.as_deref(), key, None) {
            Ok(()) if s.authenticated() => return Ok(()),
            Ok(()) => tried.push(key.display().to_string()),
            Err(e) => tried.push(format!("{} ({})", key.display(), e.message())),
        }
    }
    let who = describe(t);
    if tried.is_empty() {
        let files: Vec<String> = t
            .identity_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        return Err(Error::Ssh(format!(
            "cannot log in to {who} as {}: no SSH agent (SSH_AUTH_SOCK is unset) and none of \
             the identity files exists ({}); set IdentityFile in ssh_config",
            t.user,
            files.join(", ")
        )));
    }
    Err(Error::Ssh(format!(
        "cannot log in to {who} as {}: tried {}; check that the public key is in \
         ~{}/.ssh/authorized_keys on the host",
        t.user,
        tried.join(", "),
        t.user
    )))
}

fn public_key_file(private: &Path) -> Option<PathBuf> {
    let mut p = private.as_os_str().to_owned();
    p.push(".pub");
    let p = PathBuf::from(p);
    p.is_file().then_some(p)
}

/// With IdentitiesOnly, only agent keys whose `.pub` is an identity file.
fn agent_login(s: &Session, t: &ResolvedHost) -> std::result::Result<bool, ::ssh2::Error> {
    let mut agent = s.agent()?;
    agent.connect()?;
    agent.list_identities()?;
    let allowed: Vec<Vec<u8>> = t
        .identity_files
        .iter()
        .filter_map(|f| public_key_file(f))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|text| {
            let b64 = text.split_whitespace().nth(1)?.to_string();
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b64).ok()
        })
        .collect();
    for id in agent.identities()? {
        if t.identities_only && !allowed.iter().any(|a| a == id.blob()) {
            continue;
        }
        if agent.userauth(&t.user, &id).is_ok() && s.authenticated() {
            let _ = agent.disconnect();
            return Ok(true);
        }
    }
    let _ = agent.disconnect();
    Ok(false)
}
