//! Cutting a stream of output into lines for people to read, in time and
//! memory bounded by the chunk, not by the line: minified files, binary
//! output and progress bars can go on for megabytes without a newline.

/// The longest line kept whole. A longer one is passed on in pieces of at
/// most this many bytes, each cut between characters.
pub const LINE_LIMIT: usize = 16 << 10;

/// The line being written, across chunks.
#[derive(Debug, Default)]
pub struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Takes the next chunk; returns the lines (or pieces of a long line)
    /// it completed, without their newline.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        let mut done = Vec::new();
        for (index, segment) in chunk.split(|&b| b == b'\n').enumerate() {
            if index > 0 {
                done.push(std::mem::take(&mut self.partial));
            }
            self.append(segment, &mut done);
        }
        done
    }

    /// What is left of the line being written (at most [`LINE_LIMIT`] bytes).
    pub fn partial(&self) -> &[u8] {
        &self.partial
    }

    /// The end of the stream: the unfinished line, if any.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.partial.is_empty()).then(|| std::mem::take(&mut self.partial))
    }

    fn append(&mut self, mut segment: &[u8], done: &mut Vec<Vec<u8>>) {
        loop {
            if self.partial.len() == LINE_LIMIT && !segment.is_empty() {
                done.push(std::mem::take(&mut self.partial));
            }
            let room = LINE_LIMIT - self.partial.len();
            if segment.len() <= room {
                self.partial.extend_from_slice(segment);
                return;
            }
            let cut = char_start_at_or_before(segment, room);
            self.partial.extend_from_slice(&segment[..cut]);
            done.push(std::mem::take(&mut self.partial));
            segment = &segment[cut..];
        }
    }
}

/// The last index in `1..=at` (`at < bytes.len()`) where a UTF-8 character
/// starts, looking back at most three bytes; `at` itself when the bytes
/// there are not UTF-8.
fn char_start_at_or_before(bytes: &[u8], at: usize) -> usize {
    let is_continuation = |b: u8| b & 0xc0 == 0x80;
    (at.saturating_sub(3).max(1)..=at)
        .rev()
        .find(|&i| !is_continuation(bytes[i]))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: Vec<Vec<u8>>) -> Vec<String> {
        lines
            .into_iter()
            .map(|l| String::from_utf8(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_complete_across_chunks() {
        let mut lines = Lines::default();
        assert!(lines.push(b"hel").is_empty());
        assert_eq!(text(lines.push(b"lo\nwor")), ["hello"]);
        assert_eq!(text(lines.push(b"ld\n\nx")), ["world", ""]);
        assert_eq!(lines.finish(), Some(b"x".to_vec()));
        assert_eq!(lines.finish(), None);
        // A line exactly as long as the limit stays one line.
        let full = vec![b'a'; LINE_LIMIT];
        assert_eq!(lines.push(&full), Vec::<Vec<u8>>::new());
        assert_eq!(lines.push(b"\n"), [full]);
    }

    #[test]
    fn a_line_without_end_is_passed_on_in_bounded_pieces_between_characters() {
        let mut lines = Lines::default();
        let mut pieces = Vec::new();
        // 'é' is two bytes: the limit falls inside one of them somewhere.
        let chunk = "é".repeat(1000);
        for _ in 0..100 {
            pieces.extend(lines.push(chunk.as_bytes()));
            assert!(lines.partial().len() <= LINE_LIMIT);
        }
        pieces.extend(lines.finish());
        assert!(pieces.iter().all(|p| p.len() <= LINE_LIMIT));
        let whole: String = text(pieces).concat();
        assert_eq!(whole, chunk.repeat(100));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_cut_at_the_limit() {
        let mut lines = Lines::default();
        let pieces = lines.push(&vec![0x80; LINE_LIMIT * 2 + 5]);
        assert_eq!(pieces.len(), 2);
        assert!(pieces.iter().all(|p| p.len() == LINE_LIMIT));
        assert_eq!(lines.partial().len(), 5);
    }
}
