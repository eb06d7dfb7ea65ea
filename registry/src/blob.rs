//! Streaming one blob, resuming where it broke off.

use std::io::{self, Read};

use crate::retry::{self, MAX_ATTEMPTS};
use crate::{Client, Error, Reference};

/// The bytes of one blob as they arrive. A broken or truncated transfer is
/// picked up again with a `Range` request (or, from a registry that ignores
/// `Range`, by skipping what was already read), so consumers see one unbroken
/// stream. It never yields more than the descriptor's size: a registry that
/// sends more is an error, not an unbounded download.
pub struct BlobReader {
    client: Client,
    reference: Reference,
    digest: String,
    size: u64,
    body: Option<Box<dyn Read + Send + Sync>>,
    offset: u64,
    resumes: u32,
    /// Attempts per request: fewer at a mirror, which has a fallback.
    attempts: u32,
}

impl BlobReader {
    pub(crate) fn open(
        client: Client,
        reference: Reference,
        digest: String,
        size: u64,
        attempts: u32,
    ) -> Result<BlobReader, Error> {
        let mut reader = BlobReader {
            attempts,
            client,
            reference,
            digest,
            size,
            body: None,
            offset: 0,
            resumes: 0,
        };
        reader.body = Some(reader.request()?);
        Ok(reader)
    }

    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The size the descriptor promised.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// How many times the transfer was resumed.
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    fn request(&self) -> Result<Box<dyn Read + Send + Sync>, Error> {
        let path = self.client.blob_path(&self.reference, &self.digest);
        let range = (self.offset > 0).then_some(self.offset);
        let response = self
            .client
            .get(&self.reference, &path, &[], range, self.attempts)?;
        let url = response.get_url().to_owned();
        let resumed_at = match response.status() {
            206 => response.header("Content-Range").and_then(range_start),
            _ => Some(0),
        };
        let mut body = response.into_reader();
        let read_error = |source| Error::Read {
            what: format!("blob {}", self.digest),
            url: url.clone(),
            source,
        };
        match resumed_at {
            Some(start) if start == self.offset => {}
            Some(0) => {
                // The registry ignored `Range` and sent the whole blob again:
                // skip what was already passed on.
                let skipped = io::copy(&mut (&mut body).take(self.offset), &mut io::sink())
                    .map_err(read_error)?;
                if skipped < self.offset {
                    return Err(read_error(io::ErrorKind::UnexpectedEof.into()));
                }
            }
            _ => {
                return Err(read_error(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "asked to resume at byte {}, the registry answered from another offset",
                        self.offset
                    ),
                )))
            }
        }
        Ok(body)
    }

    fn resume(&mut self, why: &dyn std::fmt::Display) -> io::Result<()> {
        if self.resumes + 1 >= MAX_ATTEMPTS {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "blob {} of {} broke off after {} of {} bytes, {} times: {why}",
                    self.digest,
                    self.reference,
                    self.offset,
                    self.size,
                    self.resumes + 1
                ),
            ));
        }
        std::thread::sleep(retry::backoff(self.resumes));
        self.resumes += 1;
        tracing::warn!(
            "blob {} broke off at byte {} of {} ({why}); resuming",
            self.digest,
            self.offset,
            self.size
        );
        self.body = Some(self.request().map_err(io::Error::other)?);
        Ok(())
    }
}

/// The first byte of `Content-Range: bytes START-END/TOTAL`.
fn range_start(header: &str) -> Option<u64> {
    header
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(body) = self.body.as_mut() else {
                return Ok(0);
            };
            match body.read(buf) {
                Ok(0) if self.offset == self.size => return Ok(0),
                Ok(0) => self.resume(&"the connection closed early")?,
                Ok(n) => {
                    self.offset += n as u64;
                    if self.offset > self.size {
                        self.body = None;
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "blob {} of {} is larger than the {} bytes its descriptor says",
                                self.digest, self.reference, self.size
                            ),
                        ));
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.resume(&e)?,
            }
        }
    }
}
