//! Answers whose step outputs stay on disk until they are written out.
//!
//! A step's output can be gigabytes. Read into a `String`, then held by
//! async-graphql, converted to a JSON value and serialized, it cost the
//! session three copies of itself. So an output above [`INLINE_BYTES`] is
//! answered by a placeholder string, and the open file(s) behind it are
//! kept beside the answer; writing the answer splices each file in as a
//! JSON string, decoded and escaped chunk by chunk. The placeholder carries
//! a random per-session nonce, so no step output can forge one.

use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::Mutex;

/// Outputs up to this size are answered inline, like any other string.
pub(crate) const INLINE_BYTES: u64 = 1 << 20;

const CHUNK_BYTES: usize = 64 << 10;

/// One GraphQL answer: the JSON response, with placeholders where large
/// outputs go.
pub struct Answer {
    value: serde_json::Value,
    outputs: Vec<Output>,
}

/// A large output: the placeholder string standing for it, and its files,
/// whose contents are joined (`combinedOutput` is stdout then stderr, each
/// decoded on its own, as `String::from_utf8_lossy` would).
struct Output {
    placeholder: String,
    files: Vec<File>,
}

/// The large outputs of one request, filled by the resolvers.
pub(crate) struct Outputs {
    nonce: String,
    list: Mutex<Vec<Output>>,
}

impl Outputs {
    pub(crate) fn new(nonce: &str) -> Outputs {
        Outputs {
            nonce: nonce.to_owned(),
            list: Mutex::new(Vec::new()),
        }
    }

    /// The answer for `files` joined: the text itself when small, else a
    /// placeholder the answer's writer replaces by streaming the files.
    pub(crate) fn answer(&self, files: Vec<File>) -> io::Result<String> {
        let mut bytes = 0;
        for file in &files {
            bytes += file.metadata()?.len();
        }
        if bytes <= INLINE_BYTES {
            let mut text = String::new();
            for mut file in files {
                let mut contents = Vec::new();
                file.read_to_end(&mut contents)?;
                text.push_str(&String::from_utf8_lossy(&contents));
            }
            return Ok(text);
        }
        let mut list = self
            .list
            .lock()
            .expect("the outputs list is never poisoned");
        let placeholder = format!("tanto-output:{}:{}", self.nonce, list.len());
        list.push(Output {
            placeholder: placeholder.clone(),
            files,
        });
        Ok(placeholder)
    }

    /// The answer `value` with the outputs its placeholders stand for.
    pub(crate) fn take_answer(&self, value: serde_json::Value) -> Answer {
        let mut list = self
            .list
            .lock()
            .expect("the outputs list is never poisoned");
        Answer {
            value,
            outputs: std::mem::take(&mut *list),
        }
    }
}

impl Answer {
    /// The JSON response, large outputs still as placeholders.
    pub fn value(&self) -> &serde_json::Value {
        &self.value
    }

    /// Whether the response carries errors (`tanto query` exits 1 then).
    pub fn has_errors(&self) -> bool {
        self.value
            .get("errors")
            .and_then(|e| e.as_array())
            .is_some_and(|e| !e.is_empty())
    }

    /// Whether writing it reads files (the HTTP layer then streams it).
    pub fn is_small(&self) -> bool {
        self.outputs.is_empty()
    }

    /// Writes the response as JSON (indented when `pretty`), each large
    /// output read from its files as it goes.
    pub fn write(self, out: &mut impl Write, pretty: bool) -> io::Result<()> {
        let text = if pretty {
            serde_json::to_string_pretty(&self.value)
        } else {
            serde_json::to_string(&self.value)
        }
        .map_err(io::Error::other)?;
        // Where each placeholder sits, in order; an output whose field was
        // nulled by an error is simply not there.
        let mut spots: Vec<(usize, Output)> = self
            .outputs
            .into_iter()
            .filter_map(|output| {
                let quoted = format!("\"{}\"", output.placeholder);
                text.find(&quoted).map(|at| (at, output))
            })
            .collect();
        spots.sort_by_key(|(at, _)| *at);
        let mut from = 0;
        for (at, output) in spots {
            out.write_all(&text.as_bytes()[from..at])?;
            out.write_all(b"\"")?;
            for file in output.files {
                write_json_string_contents(file, out)?;
            }
            out.write_all(b"\"")?;
            from = at + output.placeholder.len() + 2;
        }
        out.write_all(&text.as_bytes()[from..])
    }

    /// The response with every output read in: for tests and Rust callers
    /// that want a value (costs the outputs' size in memory).
    pub fn into_value(self) -> io::Result<serde_json::Value> {
        if self.outputs.is_empty() {
            return Ok(self.value);
        }
        let mut bytes = Vec::new();
        self.write(&mut bytes, false)?;
        serde_json::from_slice(&bytes).map_err(io::Error::other)
    }
}

/// Writes what `input` holds as the inside of a JSON string: decoded as
/// `String::from_utf8_lossy` decodes the whole (a character split between
/// two reads stays whole; each invalid sequence becomes U+FFFD) and escaped
/// as serde_json escapes, in bounded memory.
pub(crate) fn write_json_string_contents(
    mut input: impl Read,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut buffer = vec![0u8; CHUNK_BYTES + 4];
    // Bytes at the front of `buffer` that began a character the last read
    // cut short.
    let mut carried = 0;
    loop {
        let read = match input.read(&mut buffer[carried..]) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if read == 0 {
            if carried > 0 {
                write_escaped(char::REPLACEMENT_CHARACTER.encode_utf8(&mut [0; 4]), out)?;
            }
            return Ok(());
        }
        let end = carried + read;
        let mut rest = &buffer[..end];
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    write_escaped(text, out)?;
                    rest = &[];
                    break;
                }
                Err(error) => {
                    let (valid, after) = rest.split_at(error.valid_up_to());
                    write_escaped(std::str::from_utf8(valid).expect("checked valid"), out)?;
                    match error.error_len() {
                        Some(bad) => {
                            write_escaped("\u{FFFD}", out)?;
                            rest = &after[bad..];
                        }
                        // Cut short by the end of this read.
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        buffer.copy_within(end - keep..end, 0);
        carried = keep;
    }
}

/// `text` escaped exactly as serde_json escapes a string's inside.
fn write_escaped(text: &str, out: &mut impl Write) -> io::Result<()> {
    let bytes = text.as_bytes();
    let mut from = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.write_all(&bytes[from..i])?;
        if escape.is_empty() {
            write!(out, "\\u{byte:04x}")?;
        } else {
            out.write_all(escape)?;
        }
        from = i + 1;
    }
    out.write_all(&bytes[from..])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its bytes in pieces of the given sizes, so characters
    /// get cut between reads.
    struct Pieces<'a> {
        data: &'a [u8],
        sizes: std::iter::Cycle<std::vec::IntoIter<usize>>,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self
                .sizes
                .next()
                .unwrap()
                .min(buf.len())
                .min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn streamed(data: &[u8], sizes: Vec<usize>) -> String {
        let mut out = Vec::new();
        let input = Pieces {
            data,
            sizes: sizes.into_iter().cycle(),
        };
        write_json_string_contents(input, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn serde(data: &[u8]) -> String {
        let whole = serde_json::to_string(&String::from_utf8_lossy(data)).unwrap();
        whole[1..whole.len() - 1].to_owned()
    }

    /// A small xorshift: reproducible "random" bytes without a dependency.
    fn random(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn streamed_escaping_equals_serde_json_on_the_whole() {
        let multibyte = "héllo → 世界 🦀 \"quoted\" back\\slash \t\r\n\u{0}\u{1f}\u{7f}".repeat(50);
        let mut cases: Vec<Vec<u8>> = vec![
            Vec::new(),
            multibyte.clone().into_bytes(),
            // Truncated characters, lone continuation bytes, overlongs,
            // surrogates, and a cut character at the very end.
            b"a\xe4\xb8b\x80\x80c\xc0\xafd\xed\xa0\x80e\xf0\x9f\xa6".to_vec(),
            [multibyte.as_bytes(), b"\xf0\x9f"].concat(),
        ];
        for seed in 1..40 {
            cases.push(random(seed, 5000));
            // Mostly valid multi-byte text with random damage.
            let mut damaged = multibyte.clone().into_bytes();
            for (i, r) in random(seed, 20).into_iter().enumerate() {
                let at = (r as usize * 37 + i * 101) % damaged.len();
                damaged[at] = r;
            }
            cases.push(damaged);
        }
        for (i, data) in cases.iter().enumerate() {
            let expected = serde(data);
            for sizes in [vec![1], vec![2, 3], vec![7, 1, 5], vec![CHUNK_BYTES + 4]] {
                assert_eq!(
                    streamed(data, sizes.clone()),
                    expected,
                    "case {i}, reads of {sizes:?}"
                );
            }
        }
    }

    #[test]
    fn an_answer_splices_its_outputs_in_where_their_placeholders_are() {
        let dir = tempfile::tempdir().unwrap();
        let big = "é\"\n".repeat(INLINE_BYTES as usize); // over the inline size
        std::fs::write(dir.path().join("out"), &big).unwrap();
        std::fs::write(dir.path().join("err"), "\u{1}tail").unwrap();
        let open = |name: &str| File::open(dir.path().join(name)).unwrap();
        let outputs = Outputs::new("n0nce");
        let small = outputs.answer(vec![open("err")]).unwrap();
        assert_eq!(small, "\u{1}tail");
        let placeholder = outputs.answer(vec![open("out"), open("err")]).unwrap();
        assert!(placeholder.contains("n0nce"));
        let answer = outputs.take_answer(serde_json::json!({
            "data": {"a": {"combinedOutput": placeholder, "stderr": small}}
        }));
        assert!(!answer.is_small());
        for pretty in [false, true] {
            let mut out = Vec::new();
            let answer = Answer {
                value: answer.value.clone(),
                outputs: vec![Output {
                    placeholder: placeholder.clone(),
                    files: vec![open("out"), open("err")],
                }],
            };
            answer.write(&mut out, pretty).unwrap();
            let expected = serde_json::json!({
                "data": {"a": {"combinedOutput": format!("{big}\u{1}tail"), "stderr": "\u{1}tail"}}
            });
            let expected = if pretty {
                serde_json::to_vec_pretty(&expected)
            } else {
                serde_json::to_vec(&expected)
            }
            .unwrap();
            assert!(out == expected, "pretty: {pretty}");
        }
    }
}
