//! `Directory.search` and `File.search`: lines matching a pattern, as
//! Dagger answers them from ripgrep's JSON (`rg --json --no-follow`): one
//! result per matching line, or per run of lines a multi-line match spans,
//! with the byte offsets of each match within them. Patterns are Rust
//! regexes, as Dagger's (ripgrep's) are. Binary files (a NUL byte) are
//! skipped, as ripgrep skips them.

use super::{fs_error, Directory, File};
use crate::error::Error;
use crate::node::in_directory;
use crate::ops::resolve_path;
use crate::solved::blocking;

/// Largest file searched; larger ones are skipped.
const MAX_SEARCHED: u64 = 64 << 20;

/// How to search (Dagger's `SearchOpts`, `skipIgnored` aside).
#[derive(Clone, Debug, Default)]
pub struct SearchOptions {
    pub pattern: String,
    pub literal: bool,
    pub multiline: bool,
    pub dotall: bool,
    pub insensitive: bool,
    pub skip_hidden: bool,
    pub files_only: bool,
    pub limit: Option<usize>,
    /// Files or directories to search, relative; all of it when empty.
    pub paths: Vec<String>,
    /// Only files matching one of these (a pattern without `/` matches a
    /// name at any depth, as ripgrep's `--glob`).
    pub globs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchResult {
    pub file_path: String,
    /// 1-based; 0 with `files_only`.
    pub line_number: u64,
    /// Where the first matched line starts in the file.
    pub absolute_offset: u64,
    /// The matched lines, with their line ends.
    pub matched_lines: String,
    pub submatches: Vec<Submatch>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submatch {
    pub text: String,
    /// Byte offsets within `matched_lines`.
    pub start: u64,
    pub end: u64,
}

impl SearchOptions {
    fn regex(&self) -> Result<regex::bytes::Regex, Error> {
        let pattern = if self.literal {
            regex::escape(&self.pattern)
        } else {
            self.pattern.clone()
        };
        regex::bytes::RegexBuilder::new(&pattern)
            .case_insensitive(self.insensitive)
            .dot_matches_new_line(self.multiline && self.dotall)
            .multi_line(true)
            .build()
            .map_err(|e| Error::InvalidSearch {
                pattern: self.pattern.clone(),
                reason: e.to_string(),
            })
    }
}

impl Directory {
    pub async fn search(&self, options: &SearchOptions) -> Result<Vec<SearchResult>, Error> {
        let regex = options.regex()?;
        let root = resolve_path(&self.ctx, &self.subpath).await?;
        let mut starts = Vec::new();
        for path in &options.paths {
            starts.push(
                resolve_path(&self.ctx, &in_directory(&self.subpath, path, "search")?).await?,
            );
        }
        let view = self.solved().await?.view();
        let options = options.clone();
        blocking(move || {
            let globs: Vec<String> = options
                .globs
                .iter()
                .map(|g| {
                    if g.contains('/') {
                        g.clone()
                    } else {
                        format!("**/{g}")
                    }
                })
                .collect();
            let filter = snapshotter::Filter::new(&globs, &[]).map_err(fs_error(&root))?;
            if starts.is_empty() {
                starts.push(root.clone());
            }
            let mut out = Vec::new();
            for start in &starts {
                for rel in files_below(&view, &root, start)? {
                    if options.skip_hidden && rel.split('/').any(|p| p.starts_with('.')) {
                        continue;
                    }
                    if !globs.is_empty() && !filter.includes_file(&rel) {
                        continue;
                    }
                    let full = format!("{}/{rel}", root.trim_end_matches('/'));
                    if search_file(&view, &full, &rel, &regex, &options, &mut out)? {
                        return Ok(out);
                    }
                }
            }
            Ok(out)
        })
        .await
    }
}

impl File {
    pub async fn search(&self, options: &SearchOptions) -> Result<Vec<SearchResult>, Error> {
        let regex = options.regex()?;
        let path = resolve_path(&self.ctx, &self.path).await?;
        let view = self.solved().await?.view();
        let (options, name) = (options.clone(), self.name());
        blocking(move || {
            let mut out = Vec::new();
            search_file(&view, &path, &name, &regex, &options, &mut out)?;
            Ok(out)
        })
        .await
    }
}

/// Regular files at or below `start` (symlinks not followed), as paths
/// relative to `root`, sorted.
fn files_below(
    view: &snapshotter::ChainView,
    root: &str,
    start: &str,
) -> Result<Vec<String>, Error> {
    let prefix = format!("{}/", root.trim_end_matches('/'));
    let rel_start = start.strip_prefix(&prefix).unwrap_or("").to_owned();
    let Some(entry) = view.lookup(start, false).map_err(fs_error(start))? else {
        return Err(Error::NotFound { path: rel_start });
    };
    let join = |rel: &str| {
        if rel_start.is_empty() {
            rel.to_owned()
        } else {
            format!("{rel_start}/{rel}")
        }
    };
    Ok(match entry.kind() {
        snapshotter::FileKind::File => vec![rel_start.clone()],
        snapshotter::FileKind::Dir => {
            let mut files = Vec::new();
            for rel in view.glob(start, "**").map_err(fs_error(start))? {
                let full = format!("{}/{rel}", start.trim_end_matches('/'));
                let kind = view
                    .lookup(&full, false)
                    .map_err(fs_error(&full))?
                    .map(|e| e.kind());
                if kind == Some(snapshotter::FileKind::File) {
                    files.push(join(&rel));
                }
            }
            files
        }
        _ => Vec::new(),
    })
}

/// Adds `path`'s results to `out`; true once `limit` is reached.
fn search_file(
    view: &snapshotter::ChainView,
    path: &str,
    shown: &str,
    regex: &regex::bytes::Regex,
    options: &SearchOptions,
    out: &mut Vec<SearchResult>,
) -> Result<bool, Error> {
    let full = |out: &Vec<SearchResult>| options.limit.is_some_and(|limit| out.len() >= limit);
    if full(out) {
        return Ok(true);
    }
    let text = match view.read_file(path, MAX_SEARCHED) {
        Ok(text) => text,
        Err(snapshotter::Error::FileTooLarge { .. }) => return Ok(false),
        Err(e) => return Err(fs_error(path)(e)),
    };
    if text.contains(&0) {
        return Ok(false);
    }
    let found = search_text(regex, &text, options.multiline);
    if options.files_only {
        if !found.is_empty() {
            out.push(SearchResult {
                file_path: shown.to_owned(),
                line_number: 0,
                absolute_offset: 0,
                matched_lines: String::new(),
                submatches: Vec::new(),
            });
        }
        return Ok(full(out));
    }
    for mut result in found {
        if full(out) {
            return Ok(true);
        }
        result.file_path = shown.to_owned();
        out.push(result);
    }
    Ok(full(out))
}

/// The results of one text, `file_path` left empty.
fn search_text(regex: &regex::bytes::Regex, text: &[u8], multiline: bool) -> Vec<SearchResult> {
    // Matches as (start, end); outside multi-line mode none crosses a line end.
    let mut matches: Vec<(usize, usize)> = Vec::new();
    if multiline {
        matches.extend(regex.find_iter(text).map(|m| (m.start(), m.end())));
    } else {
        let mut start = 0;
        for line in text.split_inclusive(|b| *b == b'\n') {
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            matches.extend(
                regex
                    .find_iter(body)
                    .map(|m| (start + m.start(), start + m.end())),
            );
            start += line.len();
        }
    }
    let line_start = |at: usize| {
        text[..at]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
    };
    let line_end = |at: usize| {
        text[at..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(text.len(), |i| at + i + 1)
    };
    // Each result as the byte range of its lines and its matches.
    type Group = (usize, usize, Vec<(usize, usize)>);
    let mut results: Vec<Group> = Vec::new();
    for (start, end) in matches.into_iter().filter(|(s, e)| e > s) {
        let last = end - 1;
        match results.last_mut() {
            Some((_, group_end, subs)) if start < *group_end => {
                *group_end = (*group_end).max(line_end(last));
                subs.push((start, end));
            }
            _ => results.push((line_start(start), line_end(last), vec![(start, end)])),
        }
    }
    results
        .into_iter()
        .map(|(from, to, subs)| SearchResult {
            file_path: String::new(),
            line_number: text[..from].iter().filter(|b| **b == b'\n').count() as u64 + 1,
            absolute_offset: from as u64,
            matched_lines: String::from_utf8_lossy(&text[from..to]).into_owned(),
            submatches: subs
                .into_iter()
                .map(|(s, e)| Submatch {
                    text: String::from_utf8_lossy(&text[s..e]).into_owned(),
                    start: (s - from) as u64,
                    end: (e - from) as u64,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Line number, offset, lines and match ranges of each result.
    type Found = (u64, u64, String, Vec<(u64, u64)>);

    fn search(pattern: &str, text: &str, multiline: bool) -> Vec<Found> {
        let options = SearchOptions {
            pattern: pattern.into(),
            multiline,
            dotall: multiline,
            ..Default::default()
        };
        search_text(&options.regex().unwrap(), text.as_bytes(), multiline)
            .into_iter()
            .map(|r| {
                let subs = r.submatches.iter().map(|s| (s.start, s.end)).collect();
                (r.line_number, r.absolute_offset, r.matched_lines, subs)
            })
            .collect()
    }

    #[test]
    fn one_result_per_matching_line_with_every_match_on_it() {
        assert_eq!(
            search("o", "foo\nbar\nzoo", false),
            [
                (1, 0, "foo\n".to_owned(), vec![(1, 2), (2, 3)]),
                (3, 8, "zoo".to_owned(), vec![(1, 2), (2, 3)]),
            ]
        );
        assert!(search("a.b", "a\nb", false).is_empty());
    }

    #[test]
    fn a_multiline_match_spans_its_lines() {
        assert_eq!(
            search("a.b", "x\na\nb\ny", true),
            [(2, 2, "a\nb\n".to_owned(), vec![(0, 3)])]
        );
    }

    #[test]
    fn literal_patterns_escape_and_bad_regexes_say_why() {
        let literal = SearchOptions {
            pattern: "a.b(".into(),
            literal: true,
            ..Default::default()
        };
        let found = search_text(&literal.regex().unwrap(), b"a.b( axb(", false);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].submatches.len(), 1);
        let bad = SearchOptions {
            pattern: "a(".into(),
            ..Default::default()
        };
        assert!(bad.regex().unwrap_err().to_string().contains("a("));
    }
}
