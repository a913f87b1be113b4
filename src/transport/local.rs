//! Running a command on the front-end itself, with a deadline.
//!
//! The child gets its own process group so that a timeout kills a whole
//! pipeline, not just the shell in front of it.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{Input, Io, Output, Sink, Status, Transport};
use crate::command::Cmd;
use crate::error::{Error, Result};

/// The front-end. `timeout` bounds each command that sets none of its own.
#[derive(Debug, Clone)]
pub struct Local {
    pub timeout: Duration,
}

impl Default for Local {
    fn default() -> Local {
        Local {
            timeout: Duration::from_secs(3600),
        }
    }
}

impl Transport for Local {
    fn exec(&mut self, cmd: &Cmd, io: Io<'_>) -> Result<Output> {
        let mut c = Command::new(cmd.program());
        c.args(cmd.get_args());
        for (k, v) in cmd.get_env() {
            c.env(k, v);
        }
        if let Some(d) = cmd.get_cwd() {
            c.current_dir(d);
        }
        let Io { stdin, stdout } = io;
        // A pipe goes to the child as is; a reader or writer is copied by a thread.
        let (stdin, child_stdin) = match stdin {
            None => (None, Stdio::null()),
            Some(Input::Pipe(p)) => (None, Stdio::from(p)),
            Some(Input::Reader(r)) => (Some(r), Stdio::piped()),
        };
        let (stdout, child_stdout) = match stdout {
            Some(Sink::Pipe(p)) => (None, Stdio::from(p)),
            Some(Sink::Writer(w)) => (Some(w), Stdio::piped()),
            None => (None, Stdio::piped()),
        };
        c.stdin(child_stdin)
            .stdout(child_stdout)
            .stderr(Stdio::piped());
        c.process_group(0);
        let mut child = c.spawn().map_err(|e| {
            let hint = match crate::tools::package_of(cmd.program()) {
                Some(p) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!(" (install the {p} package)")
                }
                _ => String::new(),
            };
            Error::io(
                format!("cannot run '{}' on the front-end{hint}", cmd.program()),
                e,
            )
        })?;
        // Our copies of pipes handed to the child: the far end must see EOF
        // when the child exits, not when this function returns.
        drop(c);
        let pid = child.id() as i32;
        let deadline = cmd.get_timeout().unwrap_or(self.timeout);

        let child_in = child.stdin.take();
        let child_out = child.stdout.take();
        let mut child_err = child.stderr.take().expect("piped");

        std::thread::scope(|s| -> Result<Output> {
            let feeder = s.spawn(move || -> std::io::Result<()> {
                if let (Some(src), Some(mut dst)) = (stdin, child_in) {
                    widen_pipe(&dst);
                    match copy_large(src, &mut dst) {
                        // The command may stop reading early (head, a failure): not our error.
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                        r => {
                            r?;
                        }
                    }
                }
                Ok(())
            });
            let reader = s.spawn(move || -> std::io::Result<Vec<u8>> {
                let mut buf = Vec::new();
                match (stdout, child_out) {
                    (Some(w), Some(mut out)) => {
                        widen_pipe(&out);
                        copy_large(&mut out, w)?;
                        w.flush()?;
                    }
                    (None, Some(mut out)) => {
                        out.read_to_end(&mut buf)?;
                    }
                    // The child writes into a pipe of the caller's.
                    (_, None) => {}
                }
                Ok(buf)
            });
            let errs = s.spawn(move || {
                let mut buf = Vec::new();
                let _ = child_err.read_to_end(&mut buf);
                buf
            });
            let (tx, rx) = mpsc::channel();
            s.spawn(move || {
                let _ = tx.send(child.wait());
            });
            let status = match rx.recv_timeout(deadline) {
                Ok(st) => {
                    Status::from_exit(&st.map_err(|e| Error::io("waiting for a command", e))?)
                }
                Err(_) => {
                    // SAFETY: kill(2) on the child's own process group; no memory is touched.
                    unsafe { libc::kill(-pid, libc::SIGKILL) };
                    let _ = rx.recv();
                    Status::TimedOut(deadline)
                }
            };
            let fed = feeder.join().expect("stdin thread");
            let out = reader.join().expect("stdout thread");
            let stderr = errs.join().expect("stderr thread");
            let stdout = match out {
                Ok(b) => b,
                Err(e) => return Err(Error::io(format!("reading the output of {cmd}"), e)),
            };
            if let Err(e) = fed {
                if status.success() {
                    return Err(Error::io(format!("feeding the input of {cmd}"), e));
                }
            }
            Ok(Output {
                status,
                stdout,
                stderr,
            })
        })
    }
}

/// Streams `src` into `dst` with a 1 MiB buffer: image data crosses here,
/// and `io::copy` through trait objects moves it 8 KiB per system call.
pub fn copy_large(
    src: &mut (impl Read + ?Sized),
    dst: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        dst.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// True when nothing reads the pipe `w` writes into any more (Linux
/// reports POLLERR on a pipe's write end once its readers are gone).
pub(crate) fn reader_gone(w: &std::io::PipeWriter) -> bool {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: w.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: poll(2) on one valid descriptor we own, without waiting.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    n == 1 && fd.revents & libc::POLLERR != 0
}

/// Grows a pipe to 1 MiB (from 64 KiB) so each read and write moves more
/// data; best effort (the system limit may refuse it).
pub(crate) fn widen_pipe(fd: &impl std::os::fd::AsRawFd) {
    // SAFETY: F_SETPIPE_SZ on a pipe we own; failure leaves it unchanged.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::Host;

    #[test]
    fn captures_output_and_status() {
        let mut h = Host::local();
        let out = h
            .output(&Cmd::shell("echo out; echo err >&2; exit 3"))
            .unwrap();
        assert_eq!(out.status, Status::Code(3));
        assert_eq!(out.stdout_str(), "out\n");
        assert_eq!(out.stderr_str(), "err\n");
    }

    #[test]
    fn failure_carries_command_and_stderr() {
        let mut h = Host::local();
        let e = h.run(&Cmd::new("ls").arg("/nonexistent dir")).unwrap_err();
        let f = e.command_failure().unwrap();
        assert_eq!(f.command, "ls '/nonexistent dir'");
        assert_eq!(f.status, "exit code 2");
        assert!(f.stderr.contains("No such file"), "{}", f.stderr);
    }

    #[test]
    fn deadline_kills_the_whole_pipeline() {
        let mut h = Host::local();
        let start = std::time::Instant::now();
        let out = h
            .output(&Cmd::shell("sleep 30 | sleep 30").timeout(Duration::from_millis(300)))
            .unwrap();
        assert_eq!(out.status, Status::TimedOut(Duration::from_millis(300)));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn streams_stdin_and_stdout() {
        let mut h = Host::local();
        let mut input: &[u8] = b"hello";
        let mut sink: Vec<u8> = Vec::new();
        h.run_io(
            &Cmd::new("tr").arg("a-z").arg("A-Z"),
            Io {
                stdin: Some((&mut input).into()),
                stdout: Some((&mut sink).into()),
            },
        )
        .unwrap();
        assert_eq!(sink, b"HELLO");
    }

    #[test]
    fn a_pipe_without_reader_is_seen() {
        let (r, w) = std::io::pipe().unwrap();
        assert!(!reader_gone(&w));
        drop(r);
        assert!(reader_gone(&w));
    }

    #[test]
    fn a_missing_known_tool_names_its_package() {
        let mut h = Host::local();
        let e = h
            .output(&Cmd::new("qemu-img").env("PATH", "/nonexistent"))
            .unwrap_err();
        assert!(
            e.to_string().contains(
                "cannot run 'qemu-img' on the front-end (install the qemu-utils package)"
            ),
            "{e}"
        );
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let mut h = Host::local();
        let e = h.output(&Cmd::new("no-such-program-xyz")).unwrap_err();
        assert!(
            e.to_string().contains("cannot run 'no-such-program-xyz'"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod throughput {
    use super::*;
    use crate::transport::{pipe, Host};

    /// `cargo test --release --lib local_pipe_throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn local_pipe_throughput() {
        let file = "/var/tmp/ost-1g.bin";
        if !std::path::Path::new(file).exists() {
            Host::local()
                .run(&Cmd::shell(format!("head -c 1G /dev/urandom > {file}")))
                .unwrap();
        }
        let (mut a, mut b) = (Host::local(), Host::local());
        let t = std::time::Instant::now();
        pipe(
            &mut a,
            &Cmd::new("cat").arg(file),
            &mut b,
            &Cmd::shell("cat > /dev/null"),
        )
        .unwrap();
        eprintln!("1 GiB through pipe(): {:?}", t.elapsed());
    }
}
