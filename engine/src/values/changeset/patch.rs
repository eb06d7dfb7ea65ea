//! `Changeset.asPatch`: the changes as `git diff` writes them (Dagger runs
//! `git diff --no-index` between the two trees): one `diff --git a/P b/P`
//! section per file added, modified or removed, sorted by path, with its
//! mode lines and hunks of three lines of context. Symlinks are their
//! target without a newline, as git stores them. A binary file (a NUL in
//! its first 8000 bytes, git's test, or not UTF-8) is only named
//! (`Binary files … differ`): tanto writes no `GIT binary patch`.
//! Directories are not in a patch, as in git.

use std::fmt::Write;

use similar::{ChangeTag, TextDiff};
use snapshotter::{ChainView, ChangedPaths, Comparison, FileKind};

/// Largest file a patch reads into memory.
const MAX_PATCHED: u64 = 64 << 20;

/// How far git looks for a NUL byte to call a file binary.
const BINARY_PROBE: usize = 8000;

/// One side of a file's change: git's mode and the blob.
pub(super) struct Blob {
    pub mode: u32,
    pub bytes: Vec<u8>,
}

impl Blob {
    /// The non-directory at `path` of `view`; `None` for what git cannot
    /// hold (devices, sockets).
    pub(super) fn read(view: &ChainView, path: &str) -> Result<Option<Blob>, snapshotter::Error> {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::MetadataExt;
        let Some(entry) = view.lookup(path, false)? else {
            return Ok(None);
        };
        Ok(match entry.kind() {
            FileKind::Symlink => {
                let target = std::fs::read_link(&entry.host_path).map_err(|source| {
                    snapshotter::Error::LayerRead {
                        layer: view.layers()[entry.layer].clone(),
                        path: path.to_owned(),
                        source,
                    }
                })?;
                Some(Blob {
                    mode: 0o120000,
                    bytes: target.as_os_str().as_bytes().to_vec(),
                })
            }
            FileKind::File => Some(Blob {
                mode: if entry.metadata.mode() & 0o111 != 0 {
                    0o100755
                } else {
                    0o100644
                },
                bytes: view.read_file(&entry.container_path, MAX_PATCHED)?,
            }),
            FileKind::Dir | FileKind::Other => None,
        })
    }

    /// The text, unless git would call it binary.
    pub(super) fn text(&self) -> Option<&str> {
        let probe = &self.bytes[..self.bytes.len().min(BINARY_PROBE)];
        if probe.contains(&0) {
            return None;
        }
        std::str::from_utf8(&self.bytes).ok()
    }
}

/// The patch of every file the changeset names.
pub(super) fn write(
    comparison: &Comparison<'_>,
    paths: &ChangedPaths,
) -> Result<String, snapshotter::Error> {
    let mut files: Vec<&str> = paths
        .added
        .iter()
        .filter(|p| !p.ends_with('/'))
        .chain(&paths.modified)
        .chain(&paths.removed_files)
        .map(String::as_str)
        .collect();
    files.sort_unstable();
    files.dedup();
    let at = |root: &str, path: &str| format!("{}/{path}", root.trim_end_matches('/'));
    let mut out = String::new();
    for path in files {
        let old = Blob::read(comparison.before, &at(comparison.before_path, path))?;
        let new = Blob::read(comparison.after, &at(comparison.after_path, path))?;
        match (old, new) {
            // A file that became a symlink, or back: git deletes and adds.
            (Some(old), Some(new)) if (old.mode == 0o120000) != (new.mode == 0o120000) => {
                file_section(&mut out, path, Some(&old), None);
                file_section(&mut out, path, None, Some(&new));
            }
            (old, new) => file_section(&mut out, path, old.as_ref(), new.as_ref()),
        }
    }
    Ok(out)
}

/// One file's section; `None` for the side where it does not exist.
fn file_section(out: &mut String, path: &str, old: Option<&Blob>, new: Option<&Blob>) {
    let empty = Blob {
        mode: 0,
        bytes: Vec::new(),
    };
    let _ = writeln!(out, "diff --git a/{path} b/{path}");
    match (old, new) {
        (None, None) => return,
        (None, Some(new)) => {
            let _ = writeln!(out, "new file mode {:o}", new.mode);
        }
        (Some(old), None) => {
            let _ = writeln!(out, "deleted file mode {:o}", old.mode);
        }
        (Some(old), Some(new)) if old.mode != new.mode => {
            let _ = writeln!(out, "old mode {:o}\nnew mode {:o}", old.mode, new.mode);
        }
        _ => {}
    }
    let (old_blob, new_blob) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    if old_blob.bytes == new_blob.bytes {
        return;
    }
    let old_name = old.map_or("/dev/null".to_owned(), |_| format!("a/{path}"));
    let new_name = new.map_or("/dev/null".to_owned(), |_| format!("b/{path}"));
    let (Some(old_text), Some(new_text)) = (old_blob.text(), new_blob.text()) else {
        let _ = writeln!(out, "Binary files {old_name} and {new_name} differ");
        return;
    };
    let _ = writeln!(out, "--- {old_name}\n+++ {new_name}");
    hunks(out, old_text, new_text);
}

/// The hunks between two texts, three lines of context, as `diff -u`.
fn hunks(out: &mut String, old: &str, new: &str) {
    let diff = TextDiff::from_lines(old, new);
    for group in diff.grouped_ops(3) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            range(old_range.start, old_range.len()),
            range(new_range.start, new_range.len())
        );
        for op in &group {
            for change in diff.iter_changes(op) {
                out.push(match change.tag() {
                    ChangeTag::Equal => ' ',
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                });
                out.push_str(change.value());
                if change.missing_newline() {
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
    }
}

/// A hunk's range as `diff -u` writes it: `start,len`, the length left
/// out when it is 1, and an empty range starting at the line before it.
fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patched(old: &str, new: &str) -> String {
        let mut out = String::new();
        hunks(&mut out, old, new);
        out
    }

    #[test]
    fn hunks_are_written_as_diff_u_writes_them() {
        assert_eq!(
            patched("one\ntwo\nthree\n", "one\n2\nthree\n"),
            "@@ -1,3 +1,3 @@\n one\n-two\n+2\n three\n"
        );
        assert_eq!(patched("", "new\n"), "@@ -0,0 +1 @@\n+new\n");
        assert_eq!(patched("old\n", ""), "@@ -1 +0,0 @@\n-old\n");
        assert_eq!(
            patched("a\nb", "a\nc"),
            "@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n"
        );
        let long: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let edited = long.replace("10\n", "ten\n");
        assert_eq!(
            patched(&long, &edited),
            "@@ -7,7 +7,7 @@\n 7\n 8\n 9\n-10\n+ten\n 11\n 12\n 13\n"
        );
    }

    #[test]
    fn sections_say_what_happened_to_the_file() {
        let file = |text: &str, mode| Blob {
            mode,
            bytes: text.as_bytes().to_vec(),
        };
        let mut out = String::new();
        file_section(&mut out, "n", None, Some(&file("x\n", 0o100755)));
        assert_eq!(
            out,
            "diff --git a/n b/n\nnew file mode 100755\n--- /dev/null\n+++ b/n\n@@ -0,0 +1 @@\n+x\n"
        );
        let mut out = String::new();
        file_section(&mut out, "g", Some(&file("x\n", 0o100644)), None);
        assert_eq!(
            out,
            "diff --git a/g b/g\ndeleted file mode 100644\n--- a/g\n+++ /dev/null\n@@ -1 +0,0 @@\n-x\n"
        );
        let mut out = String::new();
        let (old, new) = (file("x", 0o100644), file("x", 0o100755));
        file_section(&mut out, "m", Some(&old), Some(&new));
        assert_eq!(
            out,
            "diff --git a/m b/m\nold mode 100644\nnew mode 100755\n"
        );
        let mut out = String::new();
        let (old, new) = (file("\0a", 0o100644), file("\0b", 0o100644));
        file_section(&mut out, "bin", Some(&old), Some(&new));
        assert_eq!(
            out,
            "diff --git a/bin b/bin\nBinary files a/bin and b/bin differ\n"
        );
    }
}
