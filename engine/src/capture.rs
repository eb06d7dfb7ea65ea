//! Capturing a running step's output: streamed to progress as it comes,
//! and stored with every secret masked.
//!
//! The executor writes a step's stdout and stderr to the paths it is given.
//! We give it named pipes and read them here, so the secret values a step
//! prints never reach the disk: each chunk goes through a [`MaskStream`],
//! then into the stored `stdout`/`stderr` file and out as an
//! [`Event::Output`](crate::scheduler::Event::Output).
//!
//! The end of a pipe's stream is when its last writer closes it. We hold a
//! writer ourselves until the executor has returned (the step's processes
//! are all gone then: they die with its pid namespace), so a step that fails
//! before opening its output cannot be mistaken for one that printed nothing
//! and ended, and a reader never waits for a writer that will never come.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crate::error::Error;
use crate::mask::Masker;
use crate::scheduler::{Job, Stream};

/// One stream being captured.
struct Capturing {
    pipe: PathBuf,
    /// Our own writer, closed once the step is over.
    keeper: File,
    reader: JoinHandle<std::io::Result<()>>,
}

/// A step's two output streams being captured.
pub(crate) struct Capture {
    streams: Vec<Capturing>,
}

impl Capture {
    /// Starts capturing into `dir/stdout` and `dir/stderr`. Give the step
    /// [`Capture::pipe`] paths as its output.
    pub fn start(dir: &Path, masker: &Masker, job: &Job) -> Result<Capture, Error> {
        let mut streams = Vec::new();
        for (name, stream) in [("stdout", Stream::Stdout), ("stderr", Stream::Stderr)] {
            let pipe = dir.join(format!("{name}.pipe"));
            let file = dir.join(name);
            let io_error = |path: &Path| {
                let path = path.to_owned();
                move |source| Error::Memo { path, source }
            };
            make_fifo(&pipe).map_err(io_error(&pipe))?;
            // Non-blocking, so opening needs no writer; then a writer of our
            // own, which needs this reader to exist.
            let mut reader = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&pipe)
                .map_err(io_error(&pipe))?;
            let keeper = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
                .open(&pipe)
                .map_err(io_error(&pipe))?;
            set_blocking(&reader).map_err(io_error(&pipe))?;
            let mut output = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
                .map_err(io_error(&file))?;
            let mut masking = masker.stream();
            let job = job.clone();
            let reader = std::thread::spawn(move || {
                let mut buffer = vec![0; 64 << 10];
                loop {
                    let n = match reader.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    let released = masking.push(&buffer[..n]);
                    if !released.is_empty() {
                        output.write_all(&released)?;
                        job.output(stream, &released);
                    }
                }
                let rest = masking.finish();
                if !rest.is_empty() {
                    output.write_all(&rest)?;
                    job.output(stream, &rest);
                }
                Ok(())
            });
            streams.push(Capturing {
                pipe,
                keeper,
                reader,
            });
        }
        Ok(Capture { streams })
    }

    /// Where the step writes `stdout` (0) or `stderr` (1).
    pub fn pipe(&self, index: usize) -> PathBuf {
        self.streams[index].pipe.clone()
    }

    /// Once the step is over: waits for the rest of its output and stores it.
    pub fn finish(self) -> Result<(), Error> {
        let mut first_error = None;
        for capturing in self.streams {
            drop(capturing.keeper);
            let result = capturing
                .reader
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the output reader panicked")));
            let _ = std::fs::remove_file(&capturing.pipe);
            if let Err(source) = result {
                first_error.get_or_insert(Error::Memo {
                    path: capturing.pipe.with_extension(""),
                    source,
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

fn make_fifo(path: &Path) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn set_blocking(file: &File) -> std::io::Result<()> {
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a file descriptor we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::{Event, Observer, Step};
    use std::sync::{Arc, Mutex};

    #[test]
    fn output_streams_as_it_comes_masked_and_is_stored_masked() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let observer: Observer = Arc::new(move |event| {
            if let Event::Output(_, stream, bytes) = event {
                log.lock()
                    .unwrap()
                    .push((*stream, String::from_utf8(bytes.to_vec()).unwrap()));
            }
        });
        let step = Step {
            number: 1,
            key: crate::cache_key::KeyBuilder::new("test.v1").finish(),
            name: "test".into(),
        };
        let job = Job::detached(step, observer);
        let capture = Capture::start(dir.path(), &Masker::new(["secret"]), &job).unwrap();
        // As the executor does: open the paths it is given, write, exit.
        let writer = std::process::Command::new("sh")
            .args([
                "-c",
                "printf 'a se' >&2; printf 'out\\n'; sleep 0.1; printf 'cret.' >&2",
            ])
            .stdout(File::options().write(true).open(capture.pipe(0)).unwrap())
            .stderr(File::options().write(true).open(capture.pipe(1)).unwrap())
            .status()
            .unwrap();
        assert!(writer.success());
        capture.finish().unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read("stdout"), "out\n");
        assert_eq!(read("stderr"), "a ***.");
        assert!(!dir.path().join("stdout.pipe").exists());
        let seen = seen.lock().unwrap();
        let stderr: String = seen
            .iter()
            .filter(|(s, _)| *s == Stream::Stderr)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(stderr, "a ***.");
        assert!(seen
            .iter()
            .all(|(_, text)| !text.contains("se") || text.contains("***")));
    }

    #[test]
    fn a_step_that_never_opens_its_output_leaves_it_empty() {
        let dir = tempfile::tempdir().unwrap();
        let step = Step {
            number: 1,
            key: crate::cache_key::KeyBuilder::new("test.v1").finish(),
            name: "test".into(),
        };
        let job = Job::detached(step, Arc::new(|_| {}));
        let capture = Capture::start(dir.path(), &Masker::default(), &job).unwrap();
        capture.finish().unwrap();
        assert_eq!(std::fs::read(dir.path().join("stdout")).unwrap(), b"");
    }
}
