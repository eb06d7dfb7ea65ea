//! What tanto says to the person running it: results on stdout, everything
//! else on stderr. Debug logs go through `tracing` instead.
#![allow(clippy::print_stdout, clippy::print_stderr)]

/// A result line, on stdout.
pub fn line(text: &str) {
    println!("{text}");
}

/// A GraphQL answer, indented, on stdout: large step outputs are streamed
/// from their files rather than held in memory.
pub fn answer(answer: api::Answer) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    answer.write(&mut out, true)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// A progress or status line, on stderr.
pub fn status(text: &str) {
    eprintln!("{text}");
}

pub fn warning(text: &str) {
    eprintln!("warning: {text}");
}

pub fn error(text: &str) {
    eprintln!("error: {text}");
}

/// `51.2 MB`, in SI units like registries and podman show.
pub use engine::human_bytes as bytes;

/// The first 12 hex digits of a digest, as Docker shows them.
pub fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes() {
        assert_eq!(super::bytes(999), "999 B");
        assert_eq!(super::bytes(51_234_567), "51.2 MB");
    }
}
