//! In-process SSH with the system ssh client. (To be implemented.)

use super::{Io, Output, SshSettings, Transport};
use crate::command::Cmd;
use crate::error::{Error, Result};

pub struct SshCli {}

impl SshCli {
    pub fn connect(host: &str, _settings: &SshSettings) -> Result<SshCli> {
        Err(Error::Ssh(format!(
            "cannot connect to {host}: the ssh transport is not implemented yet"
        )))
    }
}

impl Transport for SshCli {
    fn exec(&mut self, _cmd: &Cmd, _io: Io<'_>) -> Result<Output> {
        unreachable!("never connected")
    }
}
