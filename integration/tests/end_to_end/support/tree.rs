//! Describing a directory tree — every path's type, mode, owner, symlink
//! target and content hash — so two trees can be compared exactly.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub link: Option<PathBuf>,
    pub hash: Option<String>,
    pub mtime: i64,
}

pub type Tree = BTreeMap<PathBuf, Node>;

/// Every path under `root` (root itself as ""), never following symlinks.
pub fn describe(root: &Path) -> Tree {
    let mut tree = Tree::new();
    walk(root, Path::new(""), &mut tree);
    tree
}

fn walk(root: &Path, relative: &Path, tree: &mut Tree) {
    let path = root.join(relative);
    let meta =
        std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file_type = meta.file_type();
    let kind = if file_type.is_dir() {
        'd'
    } else if file_type.is_symlink() {
        'l'
    } else if file_type.is_file() {
        'f'
    } else if file_type.is_char_device() {
        'c'
    } else if file_type.is_block_device() {
        'b'
    } else if file_type.is_fifo() {
        'p'
    } else {
        's'
    };
    let hash = (kind == 'f').then(|| {
        blake3::hash(&std::fs::read(&path).unwrap())
            .to_hex()
            .to_string()
    });
    let link = (kind == 'l').then(|| std::fs::read_link(&path).unwrap());
    tree.insert(
        relative.to_owned(),
        Node {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            link,
            hash,
            mtime: meta.mtime(),
        },
    );
    if kind == 'd' {
        let mut names: Vec<_> = std::fs::read_dir(&path)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        for name in names {
            walk(root, &relative.join(name), tree);
        }
    }
}

/// Lists every difference, so a failure shows all of them at once.
pub fn differences(expected: &Tree, actual: &Tree) -> Vec<String> {
    let mut out = Vec::new();
    for (path, want) in expected {
        match actual.get(path) {
            None => out.push(format!("missing: /{}", path.display())),
            Some(have) if have != want => out.push(format!(
                "differs: /{}\n  want {want:?}\n  have {have:?}",
                path.display()
            )),
            Some(_) => {}
        }
    }
    for path in actual.keys().filter(|p| !expected.contains_key(*p)) {
        out.push(format!("unexpected: /{}", path.display()));
    }
    out
}

/// An overlay mount of `lowers` (top first), as tanto's steps will see it,
/// made by the test (as root) with the same options tanto uses.
pub struct OverlayView {
    pub merged: PathBuf,
    _dir: tempfile::TempDir,
}

impl OverlayView {
    pub fn mount(lowers: &[PathBuf]) -> OverlayView {
        let dir = tempfile::tempdir().unwrap();
        let merged = dir.path().join("merged");
        std::fs::create_dir(&merged).unwrap();
        // A single lower needs a second one for a read-only overlay.
        let mut lowers = lowers.to_vec();
        if lowers.len() == 1 {
            let empty = dir.path().join("empty");
            std::fs::create_dir(&empty).unwrap();
            lowers.push(empty);
        }
        let lowerdir: Vec<_> = lowers.iter().map(|p| p.display().to_string()).collect();
        let options = format!("lowerdir={},userxattr", lowerdir.join(":"));
        let out = std::process::Command::new("mount")
            .args(["-t", "overlay", "overlay", "-o", &options])
            .arg(&merged)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount overlay: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        OverlayView { merged, _dir: dir }
    }
}

impl Drop for OverlayView {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.merged)
            .status();
    }
}

/// Paths under `root` whose name or contents hold `needle`: where a secret
/// must not be.
pub fn grep(root: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let text = String::from_utf8_lossy(needle).into_owned();
    let mut hits = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(path) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if path.to_string_lossy().contains(&text) {
            hits.push(path.clone());
        }
        if meta.is_dir() {
            stack.extend(
                std::fs::read_dir(&path)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path()),
            );
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path);
            }
        }
    }
    hits
}
