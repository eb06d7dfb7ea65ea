//! `Changeset.diffStats`: per path, what happened to it and how many lines
//! were added and removed, as Dagger reports them from
//! `git diff --no-index --numstat`. Sorted by path; directories (ending
//! with `/`) and binary files count no lines; every removed entry is listed,
//! inside removed directories too. A file moved unchanged is one `RENAMED`
//! entry with its old path, where git pairs it; git's pairing of files
//! that moved *and* changed (by similarity) is not made: those stay an
//! addition and a removal.

use std::collections::HashMap;

use similar::{ChangeTag, TextDiff};
use snapshotter::{ChangedPaths, Comparison};

use super::patch::Blob;

/// What happened to one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffStatKind {
    Added,
    Modified,
    Removed,
    Renamed,
}

/// One path's line of `diffStats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffStat {
    pub path: String,
    /// Where a renamed file was.
    pub old_path: Option<String>,
    pub kind: DiffStatKind,
    pub added_lines: u64,
    pub removed_lines: u64,
}

/// Every changed path's stat.
pub(super) fn diff_stats(
    comparison: &Comparison<'_>,
    paths: &ChangedPaths,
) -> Result<Vec<DiffStat>, snapshotter::Error> {
    let at = |root: &str, path: &str| format!("{}/{path}", root.trim_end_matches('/'));
    let old_blob = |path: &str| Blob::read(comparison.before, &at(comparison.before_path, path));
    let new_blob = |path: &str| Blob::read(comparison.after, &at(comparison.after_path, path));
    let stat = |path: &str, kind, (added_lines, removed_lines)| DiffStat {
        path: path.to_owned(),
        old_path: None,
        kind,
        added_lines,
        removed_lines,
    };

    // Removed files by content, for the added files that are one of them moved.
    let mut removed_by_content: HashMap<(u32, Vec<u8>), Vec<&str>> = HashMap::new();
    for path in &paths.removed_files {
        if let Some(blob) = old_blob(path)? {
            removed_by_content
                .entry((blob.mode, blob.bytes))
                .or_default()
                .push(path);
        }
    }
    let mut renamed_from: Vec<&str> = Vec::new();
    let mut stats = Vec::new();
    for path in &paths.added {
        let blob = match path.ends_with('/') {
            true => None,
            false => new_blob(path)?,
        };
        let Some(blob) = blob else {
            stats.push(stat(path, DiffStatKind::Added, (0, 0)));
            continue;
        };
        let moved = removed_by_content
            .get_mut(&(blob.mode, blob.bytes.clone()))
            .and_then(|candidates| (!candidates.is_empty()).then(|| candidates.remove(0)));
        match moved {
            Some(old_path) => {
                renamed_from.push(old_path);
                stats.push(DiffStat {
                    old_path: Some(old_path.to_owned()),
                    ..stat(path, DiffStatKind::Renamed, (0, 0))
                });
            }
            None => stats.push(stat(path, DiffStatKind::Added, (lines(&blob), 0))),
        }
    }
    for path in &paths.modified {
        let counts = match (old_blob(path)?, new_blob(path)?) {
            (Some(old), Some(new)) => changed_lines(&old, &new),
            _ => (0, 0),
        };
        stats.push(stat(path, DiffStatKind::Modified, counts));
    }
    for path in &paths.removed_all {
        if renamed_from.contains(&path.as_str()) {
            continue;
        }
        let removed = match path.ends_with('/') {
            true => 0,
            false => old_blob(path)?.map_or(0, |blob| lines(&blob)),
        };
        stats.push(stat(path, DiffStatKind::Removed, (0, removed)));
    }
    stats.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(stats)
}

/// A text file's lines, as numstat counts an added or removed one; 0 for
/// a binary file.
fn lines(blob: &Blob) -> u64 {
    blob.text().map_or(0, |text| text.lines().count() as u64)
}

/// Lines added and removed from `old` to `new`; none for a binary file.
fn changed_lines(old: &Blob, new: &Blob) -> (u64, u64) {
    let (Some(old), Some(new)) = (old.text(), new.text()) else {
        return (0, 0);
    };
    let diff = TextDiff::from_lines(old, new);
    diff.iter_all_changes()
        .fold((0, 0), |(added, removed), change| match change.tag() {
            ChangeTag::Insert => (added + 1, removed),
            ChangeTag::Delete => (added, removed + 1),
            ChangeTag::Equal => (added, removed),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(text: &str) -> Blob {
        Blob {
            mode: 0o100644,
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn lines_are_counted_as_numstat_counts_them() {
        assert_eq!(lines(&text("a\nb\nc\n")), 3);
        assert_eq!(lines(&text("no newline")), 1);
        assert_eq!(lines(&text("")), 0);
        assert_eq!(lines(&text("\0binary\n")), 0);
        assert_eq!(
            changed_lines(&text("one\ntwo\nthree\n"), &text("one\n2\nthree\nfour\n")),
            (2, 1)
        );
        assert_eq!(changed_lines(&text("\0a"), &text("\0b")), (0, 0));
    }
}
