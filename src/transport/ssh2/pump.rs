//! One command over one exec channel.
//!
//! libssh2 is single-threaded per session, so the session runs non-blocking
//! and one poll(2) loop serves stdin, stdout, stderr, keepalives and the
//! deadline: a command that writes while it is still being fed cannot
//! deadlock us. A thread reads the local stdin (which may block) and hands
//! filled buffers over, waking the loop through a socket pair.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::{Duration, Instant};

use ::ssh2::{BlockDirections, Channel, ErrorCode, Session};

use crate::error::Error;
use crate::transport::{Input, Io, Output, Sink};

/// Our receive window, as OpenSSH's. Larger ones measured slower: libssh2
/// then queues thousands of packets and scans the queue on every read.
const WINDOW: u32 = 2 << 20;
/// The largest channel packet libssh2 (and OpenSSH) use.
const PACKET: u32 = 32 << 10;
const BUF: usize = 256 << 10;
/// How much of stderr is kept: its tail carries the cause.
const STDERR_KEEP: usize = 64 << 10;
/// Time for the channel of a timed-out command to close; past it the session
/// is dropped (the next command reconnects) rather than waited for.
const CLEANUP: Duration = Duration::from_millis(500);
const LIBSSH2_ERROR_EAGAIN: i32 = -37;

pub(in crate::transport) enum Failure {
    /// The session failed: the connection is gone or unusable.
    Ssh(String),
    /// Reading our input or writing our output failed.
    Local(Error),
}

pub(in crate::transport) struct Done {
    pub output: Output,
    /// False when the session could not be brought back to a clean state.
    pub reusable: bool,
}

fn would_block(e: &::ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(LIBSSH2_ERROR_EAGAIN)
}

fn ssh(e: ::ssh2::Error) -> Failure {
    Failure::Ssh(e.message().to_string())
}

struct Poller<'a> {
    session: &'a Session,
    socket: RawFd,
    wake: Option<RawFd>,
}

impl Poller<'_> {
    /// Sleeps until the socket is ready the way libssh2 waits for it, the
    /// stdin thread has news, a keepalive is due, or `until`.
    fn wait(&self, until: Instant) {
        let mut ms = until.saturating_duration_since(Instant::now()).as_millis() + 1;
        if let Ok(next) = self.session.keepalive_send() {
            if next > 0 {
                ms = ms.min(u128::from(next) * 1000);
            }
        }
        let events = match self.session.block_directions() {
            BlockDirections::Outbound => libc::POLLOUT,
            BlockDirections::Both => libc::POLLIN | libc::POLLOUT,
            _ => libc::POLLIN,
        };
        let mut fds = [
            libc::pollfd {
                fd: self.socket,
                events,
                revents: 0,
            },
            libc::pollfd {
                fd: self.wake.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll(2) on an array of two initialised pollfd (a negative fd is ignored).
        unsafe { libc::poll(fds.as_mut_ptr(), 2, ms.min(i32::MAX as u128) as i32) };
    }

    /// Repeats a libssh2 call while it would block; `None` once `until` passed.
    fn retry<T>(
        &self,
        until: Instant,
        mut op: impl FnMut() -> Result<T, ::ssh2::Error>,
    ) -> Result<Option<T>, ::ssh2::Error> {
        loop {
            match op() {
                Err(e) if would_block(&e) => {
                    if Instant::now() >= until {
                        return Ok(None);
                    }
                    self.wait(until);
                }
                r => return r.map(Some),
            }
        }
    }
}

enum Chunk {
    Data(Vec<u8>),
    End,
    Failed(std::io::Error),
}

/// The stdin side: buffers from the reader thread and the one being written.
struct Feed {
    full: Receiver<Chunk>,
    empty: Sender<Vec<u8>>,
    wake: UnixStream,
    pending: Option<Vec<u8>>,
    off: usize,
    source_done: bool,
    error: Option<std::io::Error>,
}

/// Runs `line` on a new channel of `session` within `timeout`.
pub(in crate::transport) fn run(
    session: &Session,
    socket: RawFd,
    line: &str,
    io: Io<'_>,
    timeout: Duration,
) -> Result<Done, Failure> {
    let until = Instant::now() + timeout;
    let mut poller = Poller {
        session,
        socket,
        wake: None,
    };
    let opened = poller.retry(until, || {
        session.channel_open("session", WINDOW, PACKET, None)
    });
    let Some(mut channel) = opened.map_err(ssh)? else {
        return Ok(Pump::timed_out(timeout, Vec::new(), Vec::new(), false));
    };
    if poller
        .retry(until, || channel.exec(line))
        .map_err(ssh)?
        .is_none()
    {
        return Ok(Pump::timed_out(timeout, Vec::new(), Vec::new(), false));
    }
    let Io {
        mut stdin,
        mut stdout,
    } = io;
    std::thread::scope(|scope| {
        let mut feed = None;
        if let Some(src) = stdin.as_mut().map(Input::reader) {
            let local = |e| Failure::Local(Error::io("cannot set up the input stream", e));
            let (wake, wake_tx) = UnixStream::pair().map_err(local)?;
            wake.set_nonblocking(true).map_err(local)?;
            wake_tx.set_nonblocking(true).map_err(local)?;
            let (full_tx, full) = mpsc::sync_channel(2);
            let (empty, empty_rx) = mpsc::channel();
            scope.spawn(move || read_input(src, full_tx, empty_rx, wake_tx));
            poller.wake = Some(wake.as_raw_fd());
            feed = Some(Feed {
                full,
                empty,
                wake,
                pending: None,
                off: 0,
                source_done: false,
                error: None,
            });
        }
        let pump = Pump {
            channel,
            poller,
            feed,
            eof_sent: false,
            sink: stdout.as_mut().map(Sink::writer),
            stdout: Vec::new(),
            stderr: Vec::new(),
            out_done: false,
            err_done: false,
            buf: vec![0; BUF],
        };
        pump.run(until, timeout)
        // Dropping the pump drops the receiver: a reader thread blocked on
        // sending stops, and the scope can join it.
    })
}

/// The local stdin, read on its own thread into recycled buffers.
fn read_input(
    src: &mut (dyn Read + Send),
    full: SyncSender<Chunk>,
    empty: Receiver<Vec<u8>>,
    wake: UnixStream,
) {
    loop {
        let mut buf = empty.try_recv().unwrap_or_default();
        buf.resize(BUF, 0);
        let chunk = loop {
            match src.read(&mut buf) {
                Ok(0) => break Chunk::End,
                Ok(n) => {
                    buf.truncate(n);
                    break Chunk::Data(buf);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => break Chunk::Failed(e),
            }
        };
        let last = !matches!(chunk, Chunk::Data(_));
        if full.send(chunk).is_err() {
            return;
        }
        // Non-blocking: a full socket already holds a wake-up.
        let _ = (&wake).write(&[1]);
        if last {
            return;
        }
    }
}

mod step;
use step::Pump;
