//! `migrate_other`: a live migration hook also runs for every other TM the
//! VM's disks use (their DISK/TM_MAD), with the calling TM appended as a 6th
//! argument; a call that already has it does not recurse. `shared`/`qcow2`
//! run in this process; any other driver runs as
//! `<remotes>/tm/<tm>/<action>` with the same stdin. Their failures are
//! logged, never fatal: the migration itself succeeded or failed already.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::dispatch::{Invocation, Kind};
use crate::dump::{decode_base64, Element};
use crate::error::{Error, Result};

/// The name this driver gives itself as the calling TM.
const ME: &str = "ssh";

/// Runs `action` of every other TM of the VM's disks.
pub fn migrate_other(inv: &Invocation, raw_stdin: &[u8], action: &str) {
    if inv.args.len() >= 6 {
        return;
    }
    let tms = match other_tms(raw_stdin) {
        Ok(t) => t,
        Err(e) => {
            log::error!("{action}: cannot list the VM's other TMs: {}", e.summary());
            return;
        }
    };
    for tm in tms {
        let mut args = inv.args.clone();
        args.push(ME.to_string());
        let res = match tm.as_str() {
            "shared" | "qcow2" => in_process(inv, &tm, action, args, raw_stdin),
            _ => external(inv, &tm, action, &args, raw_stdin),
        };
        if let Err(e) = res {
            log::error!("{action} of the {tm} TM failed: {}", e.summary());
        }
    }
}

/// Distinct DISK/TM_MAD values other than ssh, valid as directory names.
pub fn other_tms(raw_stdin: &[u8]) -> Result<BTreeSet<String>> {
    let xml = decode_base64(&String::from_utf8_lossy(raw_stdin), "VM template on stdin")?;
    let vm = Element::parse(&xml, "the VM template on stdin")?;
    Ok(vm
        .get_all("TEMPLATE/DISK/TM_MAD")
        .into_iter()
        .filter(|t| *t != ME && !t.is_empty())
        .filter(|t| {
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
        .map(str::to_string)
        .collect())
}

fn in_process(
    inv: &Invocation,
    tm: &str,
    action: &str,
    args: Vec<String>,
    stdin: &[u8],
) -> Result<()> {
    let mut sub = Invocation {
        kind: Kind::Tm,
        driver: tm.to_string(),
        action: action.to_string(),
        args,
        remotes: inv.remotes.clone(),
        stdin: Box::new(std::io::Cursor::new(stdin.to_vec())),
    };
    let run = match action {
        "premigrate" => crate::tm::shared::migrate::pre,
        "postmigrate" => crate::tm::shared::migrate::post,
        _ => crate::tm::shared::migrate::fail,
    };
    run(&mut sub).map(drop)
}

fn external(inv: &Invocation, tm: &str, action: &str, args: &[String], stdin: &[u8]) -> Result<()> {
    let path = inv.remotes.join("tm").join(tm).join(action);
    if !path.exists() {
        log::info!("{action}: no {} for the {tm} TM, skipped", path.display());
        return Ok(());
    }
    let mut child = Command::new(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("cannot run {}", path.display()), e))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("waiting for {}", path.display()), e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::failed(format!(
        "{} {} ended with {}: {}",
        path.display(),
        args.join(" "),
        crate::error::describe_status(&out.status),
        crate::error::one_line(&String::from_utf8_lossy(&out.stderr))
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn b64(xml: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .encode(xml)
            .into_bytes()
    }

    #[test]
    fn lists_other_tms_once() {
        let xml =
            "<VM><TEMPLATE><DISK><TM_MAD>ssh</TM_MAD></DISK><DISK><TM_MAD>ceph</TM_MAD></DISK>\
                   <DISK><TM_MAD>ceph</TM_MAD></DISK><DISK><TM_MAD>../x</TM_MAD></DISK>\
                   <DISK><TM_MAD>qcow2</TM_MAD></DISK></TEMPLATE></VM>";
        let t = other_tms(&b64(xml)).unwrap();
        assert_eq!(t.into_iter().collect::<Vec<_>>(), vec!["ceph", "qcow2"]);
    }

    #[test]
    fn runs_external_drivers_with_the_caller_appended_and_stdin() {
        let d = tempfile::tempdir().unwrap();
        let script = d.path().join("tm/ceph/postmigrate");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        let log = d.path().join("log");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$*\" > {0}\ncat >> {0}\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let stdin = b64("<VM><TEMPLATE><DISK><TM_MAD>ceph</TM_MAD></DISK></TEMPLATE></VM>");
        let inv = Invocation {
            kind: Kind::Tm,
            driver: "ssh".into(),
            action: "postmigrate".into(),
            args: ["a", "b", "/ds/0/7", "7", "0"].map(String::from).to_vec(),
            remotes: d.path().to_path_buf(),
            stdin: Box::new(std::io::empty()),
        };
        migrate_other(&inv, &stdin, "postmigrate");
        let got = std::fs::read_to_string(&log).unwrap();
        assert_eq!(
            got,
            format!("a b /ds/0/7 7 0 ssh\n{}", String::from_utf8_lossy(&stdin))
        );
        // The guard: called with a 6th argument, nothing runs again.
        std::fs::remove_file(&log).unwrap();
        let mut inv = inv;
        inv.args.push("qcow2".into());
        migrate_other(&inv, &stdin, "postmigrate");
        assert!(!log.exists());
    }
}
