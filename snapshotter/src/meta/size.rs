//! Sizes as `du -sb` counts them: the apparent size of every file,
//! directory and symlink in a tree, each hard-linked file once.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The bytes `du -sb PATH` would report; 0 when the path is gone.
pub fn apparent_size(path: &Path) -> u64 {
    let mut seen = HashSet::new();
    size_of(path, &mut seen)
}

fn size_of(path: &Path, seen: &mut HashSet<(u64, u64)>) -> u64 {
    let Ok(meta) = path.symlink_metadata() else {
        return 0;
    };
    if meta.nlink() > 1 && !meta.is_dir() && !seen.insert((meta.dev(), meta.ino())) {
        return 0;
    }
    let mut total = meta.len();
    if meta.is_dir() {
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                total += size_of(&entry.path(), seen);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_links_count_once_and_symlinks_by_their_own_size() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("t");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("a"), vec![0u8; 1000]).unwrap();
        std::fs::hard_link(root.join("a"), root.join("b")).unwrap();
        std::os::unix::fs::symlink("a", root.join("l")).unwrap();
        let dir_size = root.symlink_metadata().unwrap().len();
        assert_eq!(apparent_size(&root), dir_size + 1000 + 1);
        let du = std::process::Command::new("du")
            .arg("-sb")
            .arg(&root)
            .output();
        if let Ok(out) = du {
            let reported: u64 = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert_eq!(apparent_size(&root), reported);
        }
    }
}
