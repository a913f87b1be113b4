//! The loop of one command: feed stdin, drain stdout and stderr, and end the
//! channel cleanly, or kill the command at its deadline.

use std::io::{ErrorKind, Read, Write};
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use super::{ssh, would_block, Channel, Chunk, Done, Failure, Feed, Poller, CLEANUP, STDERR_KEEP};
use crate::error::Error;
use crate::transport::{Output, Status};

pub(super) struct Pump<'a, 's> {
    pub channel: Channel,
    pub poller: Poller<'a>,
    pub feed: Option<Feed>,
    pub eof_sent: bool,
    pub sink: Option<&'s mut (dyn Write + Send)>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub out_done: bool,
    pub err_done: bool,
    pub buf: Vec<u8>,
}

impl Pump<'_, '_> {
    pub fn timed_out(timeout: Duration, stdout: Vec<u8>, stderr: Vec<u8>, reusable: bool) -> Done {
        Done {
            output: Output {
                status: Status::TimedOut(timeout),
                stdout,
                stderr: keep_tail(stderr),
            },
            reusable,
        }
    }

    pub fn run(mut self, until: Instant, timeout: Duration) -> Result<Done, Failure> {
        while !(self.out_done && self.err_done && self.eof_sent) {
            if Instant::now() >= until {
                return Ok(self.abandon(timeout));
            }
            let mut progress = self.feed_input()?;
            progress |= self.read_stream(false, true)?;
            progress |= self.read_stream(true, true)?;
            if !progress {
                self.poller.wait(until);
            }
        }
        if let Some(sink) = &mut self.sink {
            sink.flush()
                .map_err(|e| Failure::Local(Error::io("writing the command's output", e)))?;
        }
        let closed = self.poller.retry(until, || self.channel.close());
        let closed = match closed.map_err(ssh)? {
            Some(()) => self.poller.retry(until, || self.channel.wait_close()),
            None => Ok(None),
        };
        if closed.map_err(ssh)?.is_none() {
            return Ok(self.abandon(timeout));
        }
        let status = match self.channel.exit_signal().map(|s| s.exit_signal) {
            Ok(Some(sig)) => Status::Signal(format!("SIG{sig}")),
            _ => Status::Code(self.channel.exit_status().map_err(ssh)?),
        };
        if let Some(e) = self.feed.as_mut().and_then(|f| f.error.take()) {
            if status.success() {
                return Err(Failure::Local(Error::io("reading the command's input", e)));
            }
        }
        Ok(Done {
            output: Output {
                status,
                stdout: std::mem::take(&mut self.stdout),
                stderr: keep_tail(std::mem::take(&mut self.stderr)),
            },
            reusable: true,
        })
    }

    /// Writes what stdin has to the channel, then sends EOF once it is exhausted
    /// (at once without stdin, as with /dev/null).
    fn feed_input(&mut self) -> Result<bool, Failure> {
        if self.eof_sent {
            return Ok(false);
        }
        let mut progress = false;
        if let Some(f) = &mut self.feed {
            let mut drain = [0u8; 64];
            while matches!((&f.wake).read(&mut drain), Ok(n) if n > 0) {}
            loop {
                if f.pending.is_none() && !f.source_done {
                    match f.full.try_recv() {
                        Ok(Chunk::Data(b)) => {
                            f.pending = Some(b);
                            f.off = 0;
                        }
                        Ok(Chunk::Failed(e)) => {
                            f.error = Some(e);
                            f.source_done = true;
                        }
                        Ok(Chunk::End) | Err(TryRecvError::Disconnected) => f.source_done = true,
                        Err(TryRecvError::Empty) => {}
                    }
                }
                let Some(buf) = f.pending.take() else {
                    break;
                };
                match self.channel.write(&buf[f.off..]) {
                    Ok(n) => {
                        f.off += n;
                        progress |= n > 0;
                        if f.off < buf.len() {
                            f.pending = Some(buf);
                        } else {
                            let _ = f.empty.send(buf);
                        }
                        if n == 0 {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        // libssh2 keeps waiting for window space on a channel the
                        // server closed (the command exited without reading it all).
                        if self.channel.eof() && self.channel.wait_close().is_ok() {
                            log::debug!("the remote command ended before reading all its input");
                            f.source_done = true;
                        } else {
                            f.pending = Some(buf);
                        }
                        break;
                    }
                    Err(e) => {
                        // The command closed its input (it exited, or does not read it).
                        log::debug!("the remote command stopped reading its input: {e}");
                        f.source_done = true;
                        break;
                    }
                }
            }
            if f.pending.is_some() || !f.source_done {
                return Ok(progress);
            }
        }
        match self.channel.send_eof() {
            Err(e) if would_block(&e) => {}
            _ => {
                self.eof_sent = true;
                progress = true;
            }
        }
        Ok(progress)
    }

    /// Reads what stdout (or stderr) has; `deliver` false discards it.
    fn read_stream(&mut self, stderr: bool, deliver: bool) -> Result<bool, Failure> {
        if (stderr && self.err_done) || (!stderr && self.out_done) {
            return Ok(false);
        }
        let r = if stderr {
            self.channel.stderr().read(&mut self.buf)
        } else {
            self.channel.read(&mut self.buf)
        };
        let n = match r {
            Ok(0) => {
                // libssh2 may also return 0 after reading packets of no use to this stream.
                let eof = self.channel.eof();
                if eof {
                    if stderr {
                        self.err_done = true;
                    } else {
                        self.out_done = true;
                    }
                }
                return Ok(eof);
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(Failure::Ssh(e.to_string())),
        };
        let data = &self.buf[..n];
        match (stderr, deliver, &mut self.sink) {
            (_, false, _) => {}
            (true, _, _) => {
                self.stderr.extend_from_slice(data);
                if self.stderr.len() > 2 * STDERR_KEEP {
                    self.stderr.drain(..self.stderr.len() - STDERR_KEEP);
                }
            }
            (false, _, Some(sink)) => sink
                .write_all(data)
                .map_err(|e| Failure::Local(Error::io("writing the command's output", e)))?,
            (false, _, None) => self.stdout.extend_from_slice(data),
        }
        Ok(true)
    }

    /// At the deadline: closes the channel and drains it (the host's own
    /// `timeout` kills the command shortly after). If that does not finish
    /// within [`CLEANUP`], the session is given up.
    fn abandon(mut self, timeout: Duration) -> Done {
        let grace = Instant::now() + CLEANUP;
        let mut clean = matches!(
            self.poller.retry(grace, || self.channel.close()),
            Ok(Some(()))
        );
        while clean && !(self.out_done && self.err_done) && Instant::now() < grace {
            let progress = matches!(self.read_stream(false, false), Ok(true))
                | matches!(self.read_stream(true, true), Ok(true));
            if !progress {
                self.poller.wait(grace);
            }
        }
        clean = clean
            && self.out_done
            && self.err_done
            && matches!(
                self.poller.retry(grace, || self.channel.wait_close()),
                Ok(Some(()))
            );
        let stdout = std::mem::take(&mut self.stdout);
        let stderr = std::mem::take(&mut self.stderr);
        Pump::timed_out(timeout, stdout, stderr, clean)
    }
}

fn keep_tail(mut v: Vec<u8>) -> Vec<u8> {
    if v.len() > STDERR_KEEP {
        v.drain(..v.len() - STDERR_KEEP);
    }
    v
}
