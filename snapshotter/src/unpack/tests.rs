use std::os::unix::fs::MetadataExt;

use super::*;

#[test]
fn normalize_refuses_escapes() {
    assert_eq!(normalize(Path::new("./a//b/")).unwrap(), Path::new("a/b"));
    assert_eq!(normalize(Path::new("./")).unwrap(), Path::new(""));
    assert!(normalize(Path::new("/etc/passwd")).is_err());
    assert!(normalize(Path::new("a/../../b")).is_err());
}

/// A tar of (path, kind, mode, uid, gid) entries; symlinks point at ".".
fn tar_of(entries: &[(&str, EntryType, u32, u64, u64)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for &(path, kind, mode, uid, gid) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_size(0);
        if kind == EntryType::Symlink {
            header.set_link_name(".").unwrap();
        }
        builder.append_data(&mut header, path, &[][..]).unwrap();
    }
    builder.into_inner().unwrap()
}

#[test]
fn squashed_layers_are_owned_by_the_unpacker_without_borrowed_set_id_bits() {
    let own = Squash::own();
    let tar = tar_of(&[
        ("home/user", EntryType::Directory, 0o755, 1000, 1000),
        ("home/user/file", EntryType::Regular, 0o644, 1000, 1000),
        ("home/user/link", EntryType::Symlink, 0o777, 1000, 1000),
        ("home/user/pipe", EntryType::Fifo, 0o640, 1000, 50),
        ("home/user/.wh.gone", EntryType::Regular, 0o644, 1000, 1000),
        ("var/mail", EntryType::Directory, 0o2775, own.uid, 8),
        ("usr/bin/chage", EntryType::Regular, 0o2755, own.uid, 42),
        ("usr/games/hack", EntryType::Regular, 0o6755, 5, 60),
        (
            "usr/bin/passwd",
            EntryType::Regular,
            0o4755,
            own.uid,
            own.gid,
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    Unpacker::new(dir.path(), "sha256:test", Owners::Squashed)
        .unwrap()
        .unpack(&tar[..])
        .unwrap();
    let mut found = Vec::new();
    let mut pending = vec![dir.path().to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(
            (u64::from(meta.uid()), u64::from(meta.gid())),
            (own.uid, own.gid),
            "{}",
            path.display()
        );
        if meta.is_dir() {
            pending.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        found.push(path);
    }
    // The root, the nine entries (the whiteout as overlay's char 0/0)
    // and the five parents made on the way.
    assert_eq!(found.len(), 15, "{found:?}");
    let mode = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("var/mail"), 0o2775);
    assert_eq!(mode("usr/bin/chage"), 0o755);
    assert_eq!(mode("usr/games/hack"), 0o755);
    assert_eq!(mode("usr/bin/passwd"), 0o4755);
}
