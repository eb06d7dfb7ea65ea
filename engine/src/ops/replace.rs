//! `File.withReplaced`: literal text replaced as Dagger replaces it. One
//! match is replaced; several are an error naming where each is, unless
//! `all` (every one, none being no error) or `firstFrom` (the first one
//! at or after that line) says which.

use crate::error::Error;

pub(super) struct Replace<'a> {
    pub search: &'a str,
    pub replacement: &'a str,
    pub all: bool,
    /// A 1-based line number.
    pub first_from: Option<u32>,
}

pub(super) fn replace(path: &str, contents: &[u8], how: &Replace) -> Result<Vec<u8>, Error> {
    let search = how.search.as_bytes();
    if search.is_empty() {
        return Err(Error::EmptyArgument {
            operation: "withReplaced",
            argument: "search",
        });
    }
    // Where replacing may start: the beginning of line `first_from`.
    let from = match how.first_from {
        Some(line) if line > 1 => line_start(contents, line).unwrap_or(contents.len()),
        _ => 0,
    };
    let (head, tail) = contents.split_at(from);
    let matches = find_all(tail, search);
    if matches.is_empty() {
        if how.all {
            return Ok(contents.to_vec());
        }
        return Err(Error::SearchNotFound {
            path: path.to_owned(),
            search: how.search.to_owned(),
        });
    }
    if !how.all && how.first_from.is_none() && matches.len() > 1 {
        let locations: Vec<String> = matches
            .iter()
            .map(|&at| {
                let (line, column) = position(contents, from + at);
                format!("line {line} ({column}-{})", column + search.len())
            })
            .collect();
        return Err(Error::SearchFoundMany {
            path: path.to_owned(),
            locations: locations.join(", "),
        });
    }
    let take = if how.all { matches.len() } else { 1 };
    let mut out = head.to_vec();
    let mut last = 0;
    for &at in &matches[..take] {
        out.extend_from_slice(&tail[last..at]);
        out.extend_from_slice(how.replacement.as_bytes());
        last = at + search.len();
    }
    out.extend_from_slice(&tail[last..]);
    Ok(out)
}

/// Non-overlapping matches, left to right.
fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    let mut found = Vec::new();
    let mut at = 0;
    while at + needle.len() <= haystack.len() {
        if &haystack[at..at + needle.len()] == needle {
            found.push(at);
            at += needle.len();
        } else {
            at += 1;
        }
    }
    found
}

/// The byte offset where 1-based `line` starts, if the text has it.
fn line_start(text: &[u8], line: u32) -> Option<usize> {
    let mut seen = 1;
    for (i, b) in text.iter().enumerate() {
        if *b == b'\n' {
            seen += 1;
            if seen == line {
                return Some(i + 1);
            }
        }
    }
    None
}

/// 1-based line and 0-based byte column of `offset`.
fn position(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, search: &str, all: bool, first_from: Option<u32>) -> Result<String, String> {
        let how = Replace {
            search,
            replacement: "Universe",
            all,
            first_from,
        };
        replace("/f", text.as_bytes(), &how)
            .map(|out| String::from_utf8(out).unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_match_is_replaced_and_none_is_an_error() {
        assert_eq!(
            run("Hello, World!", "World", false, None).unwrap(),
            "Hello, Universe!"
        );
        let error = run("Hello", "World", false, None).unwrap_err();
        assert!(
            error.contains("not found") && error.contains("/f"),
            "{error}"
        );
        // With `all`, nothing to replace is no error.
        assert_eq!(run("Hello", "World", true, None).unwrap(), "Hello");
    }

    #[test]
    fn several_matches_need_all_or_first_from() {
        let text = "line 1: World\nline 2: text\nline 3: World\nline 4: World\nline 5: text";
        let error = run(text, "World", false, None).unwrap_err();
        assert!(
            error.contains("line 1 (8-13), line 3 (8-13), line 4 (8-13)"),
            "{error}"
        );
        assert_eq!(
            run(text, "World", false, Some(2)).unwrap(),
            "line 1: World\nline 2: text\nline 3: Universe\nline 4: World\nline 5: text"
        );
        assert_eq!(
            run("a World\nb World", "World", true, None).unwrap(),
            "a Universe\nb Universe"
        );
        // Multi-line searches and special characters are literal.
        assert_eq!(
            run("S\nOld 1\nOld 2\nE", "Old 1\nOld 2", false, None).unwrap(),
            "S\nUniverse\nE"
        );
        assert_eq!(
            run("$50.99 $5", "$50.99", false, None).unwrap(),
            "Universe $5"
        );
    }
}
