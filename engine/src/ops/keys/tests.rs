//! The keys' tests: every covered field changes a key, nothing else does,
//! and each op keys as it always has (golden values).

use std::path::PathBuf;
use std::sync::Arc;

use crate::solved::Solved;

use super::*;
use crate::cache_volume::Sharing;
use crate::node::{Expect, LazyConfig, Node};
use crate::secret::Secret;

const STORE_KEY: [u8; 32] = [7; 32];

fn chain(name: &str) -> CacheKey {
    KeyBuilder::new("test.chain.v1").str("name", name).finish()
}

/// One exec with every field the key covers set, and the inputs that
/// `exec_key` takes beside the op.
struct Exec {
    op: ExecOp,
    rootfs: CacheKey,
    settings: Settings,
    args: Vec<String>,
    mounts: Vec<(String, ReadyMount)>,
    services: Vec<(String, CacheKey)>,
    owners: Owners,
}

impl Exec {
    fn key(&self) -> CacheKey {
        exec_key(
            &self.op,
            &self.rootfs,
            &self.settings,
            &self.args,
            &self.mounts,
            &self.services,
            self.owners,
        )
    }
}

fn exec() -> Exec {
    Exec {
        op: ExecOp {
            rootfs: Node::scratch(),
            platform: registry::Platform::host(),
            config: LazyConfig::new(None),
            args: Vec::new(),
            use_entrypoint: false,
            stdin: "in".into(),
            redirect_stdout: String::new(),
            redirect_stderr: String::new(),
            expect: Expect::Success,
            mounts: Vec::new(),
            secret_env: vec![("TOKEN".into(), Secret::new("t", b"s3cret", &STORE_KEY))],
            cache_buster: None,
            no_network: false,
            services: Vec::new(),
        },
        rootfs: chain("rootfs"),
        settings: Settings {
            env: vec![("A".into(), "1".into())],
            workdir: "/src".into(),
            user: "build".into(),
            ..Settings::default()
        },
        args: vec!["make".into(), "test".into()],
        mounts: vec![
            (
                "/src".into(),
                ReadyMount::Directory {
                    input: Solved::chain(chain("src"), vec![PathBuf::from("/store/a/fs")]),
                    read_only: true,
                    subpath: "/".into(),
                    key: subdir_key(&chain("src"), "/"),
                },
            ),
            (
                "/etc/app.conf".into(),
                ReadyMount::File {
                    input: Solved::chain(chain("conf"), vec![PathBuf::from("/store/b/fs")]),
                    path: "/app.conf".into(),
                    key: subdir_key(&chain("conf"), "/app.conf"),
                },
            ),
            (
                "/cache".into(),
                ReadyMount::Cache {
                    name: "go-mod".into(),
                    sharing: Sharing::Shared,
                },
            ),
            ("/tmp".into(), ReadyMount::Temp),
            (
                "/run/secrets/npm".into(),
                ReadyMount::Secret {
                    secret: Secret::new("npm", b"npm-token", &STORE_KEY),
                    mode: 0o400,
                },
            ),
        ],
        services: Vec::new(),
        owners: Owners::Recorded,
    }
}

type Change = (&'static str, fn(&mut Exec));

#[test]
fn every_covered_field_changes_the_exec_key() {
    let changes: &[Change] = &[
        ("rootfs", |e| e.rootfs = chain("other rootfs")),
        ("args", |e| e.args.push("-j2".into())),
        ("a service binding", |e| {
            e.services.push(("db".into(), chain("redis")))
        }),
        ("env value", |e| e.settings.env[0].1 = "2".into()),
        ("env name", |e| e.settings.env[0].0 = "B".into()),
        ("workdir", |e| e.settings.workdir = "/work".into()),
        ("user", |e| e.settings.user = "root".into()),
        ("stdin", |e| e.op.stdin = "other".into()),
        ("redirect stdout", |e| e.op.redirect_stdout = "out".into()),
        ("redirect stderr", |e| e.op.redirect_stderr = "err".into()),
        ("expect", |e| e.op.expect = Expect::Any),
        ("mount target", |e| e.mounts[0].0 = "/elsewhere".into()),
        ("directory input", |e| {
            if let ReadyMount::Directory { key, .. } = &mut e.mounts[0].1 {
                *key = subdir_key(&chain("other src"), "/");
            }
        }),
        ("read-only", |e| {
            if let ReadyMount::Directory { read_only, .. } = &mut e.mounts[0].1 {
                *read_only = false;
            }
        }),
        ("file input", |e| {
            if let ReadyMount::File { key, .. } = &mut e.mounts[1].1 {
                *key = subdir_key(&chain("conf"), "/other.conf");
            }
        }),
        ("cache name", |e| {
            if let ReadyMount::Cache { name, .. } = &mut e.mounts[2].1 {
                *name = "npm".into();
            }
        }),
        ("cache sharing", |e| {
            if let ReadyMount::Cache { sharing, .. } = &mut e.mounts[2].1 {
                *sharing = Sharing::Locked;
            }
        }),
        ("a mount less", |e| {
            e.mounts.remove(3);
        }),
        ("secret file value", |e| {
            if let ReadyMount::Secret { secret, .. } = &mut e.mounts[4].1 {
                *secret = Secret::new("npm", b"rotated", &STORE_KEY);
            }
        }),
        ("secret file mode", |e| {
            if let ReadyMount::Secret { mode, .. } = &mut e.mounts[4].1 {
                *mode = 0o444;
            }
        }),
        ("secret env name", |e| {
            e.op.secret_env[0].0 = "API_TOKEN".into()
        }),
        ("secret env value", |e| {
            e.op.secret_env[0].1 = Secret::new("t", b"rotated", &STORE_KEY)
        }),
        ("squashed owners", |e| e.owners = Owners::Squashed),
    ];
    let base = exec().key();
    let mut seen = vec![("base", base)];
    for (field, change) in changes {
        let mut changed = exec();
        change(&mut changed);
        let key = changed.key();
        if let Some((other, _)) = seen.iter().find(|(_, k)| *k == key) {
            panic!("changing the {field} gives the same key as {other}");
        }
        seen.push((field, key));
    }
}

#[test]
fn what_cannot_change_the_output_leaves_the_exec_key_alone() {
    let unchanged: &[Change] = &[
        // Where the store keeps an input's layers is not the input.
        ("layer paths", |e| {
            if let ReadyMount::Directory { input, .. } = &mut e.mounts[0].1 {
                input.layers = Arc::new(vec![PathBuf::from("/elsewhere/fs")]);
            }
            if let ReadyMount::File { input, .. } = &mut e.mounts[1].1 {
                input.layers = Arc::new(vec![PathBuf::from("/elsewhere/fs")]);
            }
        }),
        // A secret's name is how the API refers to it, not its value.
        ("secret's API name", |e| {
            e.op.secret_env[0].1 = Secret::new("renamed", b"s3cret", &STORE_KEY)
        }),
        // What the image says to run, when the args are given.
        ("image's default args", |e| {
            e.settings.default_args = vec!["sh".into()]
        }),
    ];
    let base = exec().key();
    for (what, change) in unchanged {
        let mut changed = exec();
        change(&mut changed);
        assert_eq!(changed.key(), base, "changing the {what} changed the key");
    }
    // Cache volume contents and mtimes are no input at all: a cache
    // mount is keyed by name and sharing, host trees by content digest.
}

#[test]
fn secrets_enter_the_key_only_through_their_keyed_hash() {
    let with_store_key = |store_key: &[u8; 32]| {
        let mut e = exec();
        e.op.secret_env[0].1 = Secret::new("t", b"s3cret", store_key);
        e.key()
    };
    // Same value, same store: same key. Another store's secret key
    // hashes the same value differently, so a key reveals nothing
    // that could be checked against a guessed value elsewhere.
    assert_eq!(with_store_key(&STORE_KEY), exec().key());
    assert_ne!(with_store_key(&[8; 32]), exec().key());
    let hash = Secret::new("t", b"s3cret", &STORE_KEY);
    assert!(!hash.keyed_hash().contains("s3cret"));
}

fn layer(change: ChangeData) -> CacheKey {
    layer_key(&chain("base"), Some(&chain("source")), &change)
}

fn copy() -> ChangeData {
    ChangeData::Copy {
        src_path: "/src".into(),
        include: vec!["*.rs".into()],
        exclude: vec!["target".into()],
        dest: "/app".into(),
        mode: None,
    }
}

#[test]
fn every_covered_field_changes_the_layer_key() {
    let base = layer(copy());
    let copy_with = |f: fn(&mut ChangeData)| {
        let mut change = copy();
        f(&mut change);
        layer(change)
    };
    let keys = [
        (
            "base",
            layer_key(&chain("other"), Some(&chain("source")), &copy()),
        ),
        (
            "source",
            layer_key(&chain("base"), Some(&chain("other")), &copy()),
        ),
        (
            "src path",
            copy_with(|c| {
                if let ChangeData::Copy { src_path, .. } = c {
                    *src_path = "/lib".into()
                }
            }),
        ),
        (
            "include",
            copy_with(|c| {
                if let ChangeData::Copy { include, .. } = c {
                    include.clear()
                }
            }),
        ),
        (
            "exclude",
            copy_with(|c| {
                if let ChangeData::Copy { exclude, .. } = c {
                    exclude.clear()
                }
            }),
        ),
        (
            "dest",
            copy_with(|c| {
                if let ChangeData::Copy { dest, .. } = c {
                    *dest = "/opt".into()
                }
            }),
        ),
        (
            "mode",
            copy_with(|c| {
                if let ChangeData::Copy { mode, .. } = c {
                    *mode = Some(0o755)
                }
            }),
        ),
        (
            "new file",
            layer(ChangeData::NewFile {
                path: "/app".into(),
                contents: b"x".to_vec(),
                mode: 0o644,
            }),
        ),
        (
            "new file contents",
            layer(ChangeData::NewFile {
                path: "/app".into(),
                contents: b"y".to_vec(),
                mode: 0o644,
            }),
        ),
        (
            "new file mode",
            layer(ChangeData::NewFile {
                path: "/app".into(),
                contents: b"x".to_vec(),
                mode: 0o600,
            }),
        ),
        (
            "new directory",
            layer(ChangeData::NewDirectory {
                path: "/app".into(),
                mode: 0o755,
            }),
        ),
        (
            "new directory mode",
            layer(ChangeData::NewDirectory {
                path: "/app".into(),
                mode: 0o700,
            }),
        ),
        (
            "removal",
            layer(ChangeData::Remove {
                path: "/app".into(),
            }),
        ),
        (
            "removal path",
            layer(ChangeData::Remove {
                path: "/src".into(),
            }),
        ),
        (
            "symlink",
            layer(ChangeData::Symlink {
                target: "/app".into(),
                link: "/src".into(),
            }),
        ),
        (
            "symlink target",
            layer(ChangeData::Symlink {
                target: "/lib".into(),
                link: "/src".into(),
            }),
        ),
        (
            "chown",
            layer(ChangeData::Chown {
                path: "/src".into(),
                owner: "1000".into(),
            }),
        ),
        (
            "chown owner",
            layer(ChangeData::Chown {
                path: "/src".into(),
                owner: "1000:1000".into(),
            }),
        ),
        (
            "timestamps",
            layer(ChangeData::Timestamps {
                path: "/src".into(),
                seconds: 0,
            }),
        ),
        (
            "timestamps seconds",
            layer(ChangeData::Timestamps {
                path: "/src".into(),
                seconds: 1,
            }),
        ),
        (
            "removal of matches",
            layer(ChangeData::RemoveMatching {
                path: "/src".into(),
            }),
        ),
        (
            "patch",
            layer(ChangeData::Patch {
                root: "/src".into(),
                patch: "--- a/x\n".into(),
            }),
        ),
        (
            "patch root",
            layer(ChangeData::Patch {
                root: "/".into(),
                patch: "--- a/x\n".into(),
            }),
        ),
        ("replace", layer(replacing(|_| {}))),
        ("replace search", layer(replacing(|r| r.0 = "b".into()))),
        (
            "replace replacement",
            layer(replacing(|r| r.1 = "c".into())),
        ),
        ("replace all", layer(replacing(|r| r.2 = true))),
        ("replace first from", layer(replacing(|r| r.3 = Some(2)))),
    ];
    let mut seen = vec![("copy", base)];
    for (what, key) in keys {
        if let Some((other, _)) = seen.iter().find(|(_, k)| *k == key) {
            panic!("{what} gives the same key as {other}");
        }
        seen.push((what, key));
    }
}

/// Every key names results on disk: an encoding that changes without a
/// new tag version would orphan every store's results, or worse, let a
/// result stand for the wrong inputs. If one of these fails, bump the
/// op's tag version instead of updating the value.
#[test]
fn each_op_keys_as_it_always_has() {
    let golden = [
        ("tanto.scratch.v1", scratch_key()),
        ("tanto.image.v1", image_key("sha256:aa", Owners::Recorded)),
        ("tanto.host.v1", host_key("blake3:bb")),
        ("tanto.subdir.v1", subdir_key(&chain("c"), "/d")),
        (
            "tanto.exec-mount.v1",
            exec_mount_key(&chain("e"), 1, &chain("f")),
        ),
        ("tanto.tarball.v1", tarball_key("sha256:cc")),
        ("tanto.http.v1", http_key("sha256:dd", "f.tgz", 0o600)),
        ("tanto.layer.v1", layer(copy())),
        ("tanto.exec.v1", exec().key()),
        (
            "tanto.with-changes.v1",
            with_changes_key((&chain("g"), "/"), (&chain("h"), "/"), (&chain("i"), "/")),
        ),
    ];
    let printed: Vec<String> = golden
        .iter()
        .map(|(tag, key)| format!("(\"{tag}\", \"{}\"),", key.to_hex()))
        .collect();
    let expected: &[(&str, &str)] = &[
        (
            "tanto.scratch.v1",
            "bba0a200307a6505da171337f88eb5a0bf7e633d405314770d04da46c59c46cf",
        ),
        (
            "tanto.image.v1",
            "598cdfa2260a5f54f7526ac56c61b9a66e11321d57b5003cc255dcdc01815e21",
        ),
        (
            "tanto.host.v1",
            "e27da1910f9648ff833ea1293a7fac2379741138b57251c64cae0fb0c8640931",
        ),
        (
            "tanto.subdir.v1",
            "e3b45dfed4c723e57548bbad65d95c90678f5d5480294680bc20209acc0dedfb",
        ),
        (
            "tanto.exec-mount.v1",
            "1d0ef4797dfd3962f2f8f07cf243ee79e2b4e92349aab897e364bc69bb77a0ef",
        ),
        (
            "tanto.tarball.v1",
            "08821266d7438dcf999d2f587db435c9f6302ded090ac4ed1e6dfac297e58edd",
        ),
        (
            "tanto.http.v1",
            "38cffc676d7da53404653b90a754a9f57d1b5369fa90527e754e7f0c9644c1f8",
        ),
        (
            "tanto.layer.v1",
            "04452b2d4d6953af1456aad1f381948eb9eb69792852f4fd82b138be42398208",
        ),
        (
            "tanto.exec.v1",
            "b31fe78eb3141f2861f0eee3b325c7f9c1066f39b57a8b4841695987cca9b6a0",
        ),
        (
            "tanto.with-changes.v1",
            "0e6e8d56e7580ce21bb68833f265f32ad37c97d1c76f17430b2e79f0a8dd22a4",
        ),
    ];
    assert_eq!(
        golden.len(),
        expected.len(),
        "golden values:\n{}",
        printed.join("\n")
    );
    for ((tag, key), (expected_tag, expected_hex)) in golden.iter().zip(expected) {
        assert_eq!(tag, expected_tag);
        assert_eq!(&key.to_hex(), expected_hex, "{tag} changed its encoding");
    }
}

#[test]
fn squashed_images_key_apart() {
    assert_ne!(
        image_key("sha256:aa", Owners::Squashed),
        image_key("sha256:aa", Owners::Recorded)
    );
}

#[test]
fn diffs_key_by_both_trees_and_where_each_is_seen_from() {
    let base = diff_key(&chain("a"), "/", &chain("b"), "/");
    let others = [
        diff_key(&chain("b"), "/", &chain("a"), "/"),
        diff_key(&chain("a"), "/sub", &chain("b"), "/"),
        diff_key(&chain("a"), "/", &chain("b"), "/sub"),
        diff_key(&chain("c"), "/", &chain("b"), "/"),
    ];
    for (i, key) in others.iter().enumerate() {
        assert_ne!(*key, base, "variant {i}");
    }
}

#[test]
fn applied_changes_key_by_every_tree_and_path() {
    let key = |b: &str, bp: &str, x: &str, xp: &str, y: &str, yp: &str| {
        with_changes_key((&chain(b), bp), (&chain(x), xp), (&chain(y), yp))
    };
    let base = key("base", "/", "old", "/", "new", "/");
    let others = [
        key("other", "/", "old", "/", "new", "/"),
        key("base", "/sub", "old", "/", "new", "/"),
        key("base", "/", "new", "/", "old", "/"),
        key("base", "/", "old", "/sub", "new", "/"),
        key("base", "/", "old", "/", "new", "/sub"),
        key("base", "/", "old", "/", "newer", "/"),
    ];
    for (i, key) in others.iter().enumerate() {
        assert_ne!(*key, base, "variant {i}");
    }
}

/// A replacement of "a" by "z" in /src, edited by `f` (search,
/// replacement, all, first from).
fn replacing(f: fn(&mut (String, String, bool, Option<u32>))) -> ChangeData {
    let mut r = ("a".to_owned(), "z".to_owned(), false, None);
    f(&mut r);
    ChangeData::Replace {
        path: "/src".into(),
        search: r.0,
        replacement: r.1,
        all: r.2,
        first_from: r.3,
    }
}

#[test]
fn volatile_variables_enter_the_key_by_name_only() {
    let with_volatile = |name: &str, value: &str| {
        let mut e = exec();
        e.settings.volatile_env = vec![(name.into(), value.into())];
        e.key()
    };
    assert_eq!(with_volatile("RUN_ID", "1"), with_volatile("RUN_ID", "2"));
    assert_ne!(with_volatile("RUN_ID", "1"), with_volatile("BUILD_ID", "1"));
    assert_ne!(with_volatile("RUN_ID", "1"), exec().key());
}

#[test]
fn a_foreign_platform_keys_apart_and_the_host_as_always() {
    let on = |platform: &str| {
        let mut e = exec();
        e.op.platform = platform.parse().unwrap();
        e.key()
    };
    let host = registry::Platform::host().to_string();
    assert_eq!(on(&host), exec().key());
    let foreign = if host == "linux/arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    assert_ne!(on(foreign), exec().key());
    assert_eq!(on(foreign), on(&foreign.replace("arm64", "aarch64")));
}
