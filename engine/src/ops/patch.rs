//! `Directory.withPatch`: unified diffs applied as `git apply` applies
//! them (Dagger runs it): `a/` and `b/` prefixes stripped, `/dev/null` for
//! a file added or deleted, each hunk's context matched exactly (at its
//! line, or the nearest line where it matches), and nothing written
//! unless every hunk of every file applies.

use crate::error::Error;

/// One file's part of a patch.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct FilePatch {
    /// `None` for a file the patch adds.
    pub old: Option<String>,
    /// `None` for a file the patch deletes.
    pub new: Option<String>,
    /// `new file mode 100755` and the like.
    pub mode: Option<u32>,
    hunks: Vec<Hunk>,
}

#[derive(Debug, PartialEq, Eq)]
struct Hunk {
    /// 1-based line the hunk starts at in the old file (0 when empty).
    old_start: usize,
    /// Lines as (kind, text without the line end): ' ', '-' or '+'.
    lines: Vec<(char, String)>,
    /// Whether the old or new side ends without a newline.
    old_no_eol: bool,
    new_no_eol: bool,
}

fn bad(detail: String) -> Error {
    Error::BadPatch { detail }
}

/// The path a header names: `/dev/null` is none, `a/` or `b/` stripped.
fn header_path(text: &str) -> Option<String> {
    let path = text.split('\t').next().unwrap_or("").trim();
    if path == "/dev/null" {
        return None;
    }
    let path = path
        .strip_prefix("a/")
        .or_else(|| path.strip_prefix("b/"))
        .unwrap_or(path);
    Some(path.to_owned())
}

/// What a `diff --git` section's extended headers say: enough on their
/// own for what git writes without `---`/`+++` lines (a mode change, a
/// pure rename, an empty file added or deleted).
#[derive(Default)]
struct GitSection {
    old: Option<String>,
    new: Option<String>,
    mode: Option<u32>,
    /// Its `---`/`+++` lines were seen: the section is a patch of its own.
    has_content: bool,
}

impl GitSection {
    /// `diff --git a/OLD b/NEW`; paths with ` b/` in them are told by the
    /// `rename`, `---` and `+++` lines instead.
    fn start(line: &str) -> GitSection {
        let paths = line.trim_start_matches("diff --git ");
        let (old, new) = paths.split_once(" b/").unwrap_or((paths, paths));
        GitSection {
            old: header_path(old),
            new: header_path(&format!("b/{new}")),
            ..GitSection::default()
        }
    }

    /// The file patch a section without `---`/`+++` lines stands for.
    fn header_only(self) -> Option<FilePatch> {
        (!self.has_content).then_some(FilePatch {
            old: self.old,
            new: self.new,
            mode: self.mode,
            hunks: Vec::new(),
        })
    }
}

fn octal_mode(text: &str) -> Option<u32> {
    u32::from_str_radix(text.trim(), 8).ok().map(|m| m & 0o7777)
}

pub(super) fn parse(patch: &str) -> Result<Vec<FilePatch>, Error> {
    let lines: Vec<&str> = patch.lines().collect();
    let mut files = Vec::new();
    let mut section: Option<GitSection> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with("diff --git ") {
            files.extend(section.take().and_then(GitSection::header_only));
            section = Some(GitSection::start(line));
        } else if let Some(current) = section.as_mut().filter(|s| !s.has_content) {
            if let Some(rest) = line.strip_prefix("new file mode ") {
                current.old = None;
                current.mode = octal_mode(rest);
            } else if line.starts_with("deleted file mode ") {
                current.new = None;
            } else if let Some(rest) = line.strip_prefix("new mode ") {
                current.mode = octal_mode(rest);
            } else if let Some(rest) = line.strip_prefix("rename from ") {
                current.old = Some(rest.to_owned());
            } else if let Some(rest) = line.strip_prefix("rename to ") {
                current.new = Some(rest.to_owned());
            } else if line.starts_with("GIT binary patch") || line.starts_with("Binary files ") {
                let path = current
                    .new
                    .clone()
                    .or(current.old.clone())
                    .unwrap_or_default();
                return Err(bad(format!(
                    "{path}: the patch changes a binary file, which withPatch cannot apply; copy the file in with withFile"
                )));
            }
        }
        if !(line.starts_with("--- ") && lines.get(i + 1).is_some_and(|l| l.starts_with("+++ "))) {
            i += 1;
            continue;
        }
        let mode = match section.as_mut() {
            Some(current) => {
                current.has_content = true;
                current.mode
            }
            None => None,
        };
        let old = header_path(&line[4..]);
        let new = header_path(&lines[i + 1][4..]);
        i += 2;
        let mut hunks = Vec::new();
        while let Some(header) = lines.get(i).filter(|l| l.starts_with("@@ ")) {
            let (old_start, old_len, new_len) = hunk_header(header)?;
            i += 1;
            let mut hunk = Hunk {
                old_start,
                lines: Vec::new(),
                old_no_eol: false,
                new_no_eol: false,
            };
            let (mut old_seen, mut new_seen) = (0, 0);
            while old_seen < old_len || new_seen < new_len {
                let Some(line) = lines.get(i) else {
                    return Err(bad(format!("the hunk {header:?} ends early")));
                };
                let (kind, text) = match line.chars().next() {
                    Some(k @ (' ' | '-' | '+')) => (k, &line[1..]),
                    // An empty context line some editors leave.
                    None => (' ', ""),
                    Some(_) => {
                        return Err(bad(format!("the hunk {header:?} has a bad line {line:?}")))
                    }
                };
                if kind != '+' {
                    old_seen += 1;
                }
                if kind != '-' {
                    new_seen += 1;
                }
                hunk.lines.push((kind, text.to_owned()));
                i += 1;
                if lines.get(i).is_some_and(|l| l.starts_with('\\')) {
                    if kind != '+' {
                        hunk.old_no_eol = true;
                    }
                    if kind != '-' {
                        hunk.new_no_eol = true;
                    }
                    i += 1;
                }
            }
            hunks.push(hunk);
        }
        files.push(FilePatch {
            old,
            new,
            mode,
            hunks,
        });
    }
    files.extend(section.and_then(GitSection::header_only));
    Ok(files)
}

/// `@@ -l,s +l,s @@` → old start, old length, new length.
fn hunk_header(header: &str) -> Result<(usize, usize, usize), Error> {
    let invalid = || bad(format!("bad hunk header {header:?}"));
    let mut parts = header.split_whitespace().skip(1);
    let range = |part: Option<&str>, sign: char| -> Result<(usize, usize), Error> {
        let part = part
            .and_then(|p| p.strip_prefix(sign))
            .ok_or_else(invalid)?;
        let (start, len) = part.split_once(',').unwrap_or((part, "1"));
        Ok((
            start.parse().map_err(|_| invalid())?,
            len.parse().map_err(|_| invalid())?,
        ))
    };
    let (old_start, old_len) = range(parts.next(), '-')?;
    let (_, new_len) = range(parts.next(), '+')?;
    Ok((old_start, old_len, new_len))
}

/// `old` (empty for a new file) with `file`'s hunks applied.
pub(super) fn apply(file: &FilePatch, old: &str) -> Result<String, Error> {
    let name = file.new.as_deref().or(file.old.as_deref()).unwrap_or("?");
    let mut lines: Vec<String> = old.lines().map(str::to_owned).collect();
    let mut ends_with_newline = old.is_empty() || old.ends_with('\n');
    // Hunks apply bottom-up so earlier line numbers stay true.
    for hunk in file.hunks.iter().rev() {
        let before: Vec<&str> = hunk
            .lines
            .iter()
            .filter(|(k, _)| *k != '+')
            .map(|(_, t)| t.as_str())
            .collect();
        let after: Vec<String> = hunk
            .lines
            .iter()
            .filter(|(k, _)| *k != '-')
            .map(|(_, t)| t.clone())
            .collect();
        let wanted = hunk.old_start.saturating_sub(1);
        let fits = |at: usize| {
            at + before.len() <= lines.len()
                && lines[at..at + before.len()]
                    .iter()
                    .zip(&before)
                    .all(|(a, b)| a == b)
        };
        let at = (0..=lines.len())
            .flat_map(|d| [wanted.checked_sub(d), Some(wanted + d)])
            .flatten()
            .find(|&at| at <= lines.len() && fits(at))
            .ok_or_else(|| {
                bad(format!(
                    "{name}: the hunk at line {} does not apply (its context is not in the file)",
                    hunk.old_start
                ))
            })?;
        let touches_end = at + before.len() == lines.len();
        lines.splice(at..at + before.len(), after);
        if touches_end {
            ends_with_newline = !hunk.new_no_eol;
        }
    }
    let mut out = lines.join("\n");
    if ends_with_newline && !lines.is_empty() {
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDIT: &str =
        "--- a/hello.txt\n+++ b/hello.txt\n@@ -1 +1 @@\n-Hello, World!\n+Hello, Dagger!\n";

    #[test]
    fn edits_additions_and_deletions_parse_and_apply() {
        let files = parse(EDIT).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].old.as_deref(), Some("hello.txt"));
        assert_eq!(
            apply(&files[0], "Hello, World!\n").unwrap(),
            "Hello, Dagger!\n"
        );

        let add = parse("--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+new!\n").unwrap();
        assert_eq!(add[0].old, None);
        assert_eq!(apply(&add[0], "").unwrap(), "new!\n");

        let delete = parse("--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n").unwrap();
        assert_eq!(delete[0].new, None);
    }

    #[test]
    fn hunks_find_their_context_nearby_and_refuse_when_it_is_gone() {
        let patch = "--- a/f\n+++ b/f\n@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n";
        let file = &parse(patch).unwrap()[0];
        // Two lines were added above since the patch was made.
        assert_eq!(
            apply(file, "x\ny\na\nb\nc\nd\n").unwrap(),
            "x\ny\na\nb\nC\nd\n"
        );
        let error = apply(file, "a\nb\nchanged\nd\n").unwrap_err().to_string();
        assert!(
            error.contains("f: the hunk at line 2 does not apply"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_final_newline_is_kept_or_added_as_the_patch_says() {
        let patch = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+b\n";
        assert_eq!(apply(&parse(patch).unwrap()[0], "a").unwrap(), "b\n");
        let git = "diff --git a/x b/x\nnew file mode 100755\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+run\n";
        assert_eq!(parse(git).unwrap()[0].mode, Some(0o755));
    }

    #[test]
    fn git_sections_without_hunks_are_mode_changes_renames_and_empty_files() {
        let git = "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n\
                   diff --git a/old name.txt b/new name.txt\nsimilarity index 100%\nrename from old name.txt\nrename to new name.txt\n\
                   diff --git a/empty b/empty\nnew file mode 100644\nindex 0000000..e69de29\n\
                   diff --git a/gone b/gone\ndeleted file mode 100644\nindex e69de29..0000000\n\
                   diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";
        let files = parse(git).unwrap();
        let summary: Vec<_> = files
            .iter()
            .map(|f| (f.old.as_deref(), f.new.as_deref(), f.mode, f.hunks.len()))
            .collect();
        assert_eq!(
            summary,
            [
                (Some("run.sh"), Some("run.sh"), Some(0o755), 0),
                (Some("old name.txt"), Some("new name.txt"), None, 0),
                (None, Some("empty"), Some(0o644), 0),
                (Some("gone"), None, None, 0),
                (Some("f"), Some("f"), None, 1),
            ]
        );
        assert_eq!(apply(&files[0], "#!/bin/sh\n").unwrap(), "#!/bin/sh\n");

        let binary = "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n";
        let error = parse(binary).unwrap_err().to_string();
        assert!(
            error.contains("logo.png") && error.contains("binary"),
            "{error}"
        );
    }
}
