//! In-process SSH with libssh2. (To be implemented.)

use super::{Io, Output, SshSettings, Transport};
use crate::command::Cmd;
use crate::error::{Error, Result};

pub struct Ssh2 {}

impl Ssh2 {
    pub fn connect(host: &str, _settings: &SshSettings) -> Result<Ssh2> {
        Err(Error::Ssh(format!(
            "cannot connect to {host}: the ssh2 transport is not implemented yet"
        )))
    }
}

impl Transport for Ssh2 {
    fn exec(&mut self, _cmd: &Cmd, _io: Io<'_>) -> Result<Output> {
        unreachable!("never connected")
    }
}
