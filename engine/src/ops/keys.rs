//! Cache keys: what each op's key covers, in one place.
//!
//! A key names a committed result on disk (`snapshots/<kind>-<key>/`) and
//! a step in every store that ever ran it, so once published its encoding
//! must not change by accident: each op's tag carries a version, and the
//! golden values below fail the build when an encoding changes. A change
//! that is meant bumps the tag's version. Fields that cannot change the
//! output stay out (cache volume contents, mtimes, secret values — only a
//! secret's keyed hash goes in).
//!
//! Request keys (`tanto.image-request.v1`, …) are different: they only
//! deduplicate work within one process and are never stored.
//!
//! Squashed owners (single-id squash mode, `single_id.rs`) give other
//! trees and run steps as another user: image and exec keys say so with
//! one more field, and only then, so that a key made without squash is
//! the one it always was (no tag bump, no store's results orphaned) and a
//! squashed key can equal none of them.

use snapshotter::Owners;

use crate::cache_key::{CacheKey, KeyBuilder};
use crate::config::Settings;
use crate::node::ExecOp;

use super::exec_mounts::ReadyMount;
use super::layer::ChangeData;

/// The empty chain.
pub(super) fn scratch_key() -> CacheKey {
    KeyBuilder::new("tanto.scratch.v1").finish()
}

/// An image, pulled or imported: its manifest digest, and its owners
/// when squashed.
pub(super) fn image_key(manifest_digest: &str, owners: Owners) -> CacheKey {
    let key = KeyBuilder::new("tanto.image.v1").str("manifest", manifest_digest);
    with_owners(key, owners).finish()
}

/// `owners`, when squashed, as the key's last field.
fn with_owners(key: KeyBuilder, owners: Owners) -> KeyBuilder {
    match owners {
        Owners::Recorded => key,
        Owners::Squashed => key.str("owners", "squashed"),
    }
}

/// A host directory or file: the digest of its content (paths, modes,
/// sizes, file hashes; never mtimes).
pub(super) fn host_key(content_digest: &str) -> CacheKey {
    KeyBuilder::new("tanto.host.v1")
        .str("digest", content_digest)
        .finish()
}

/// A download (`Query.http`): the content's digest, and the name and mode
/// of the one file the layer holds. The URL stays out: the same bytes are
/// the same layer wherever they came from.
pub(super) fn http_key(content_digest: &str, name: &str, mode: u32) -> CacheKey {
    KeyBuilder::new("tanto.http.v1")
        .str("digest", content_digest)
        .str("name", name)
        .u64("mode", u64::from(mode))
        .finish()
}

/// The directory at `path` of a chain, as a mounted input.
pub(super) fn subdir_key(chain: &CacheKey, path: &str) -> CacheKey {
    KeyBuilder::new("tanto.subdir.v1")
        .key("chain", chain)
        .str("path", path)
        .finish()
}

/// What a writable directory mount holds after its exec.
pub(super) fn exec_mount_key(exec: &CacheKey, index: usize, source: &CacheKey) -> CacheKey {
    KeyBuilder::new("tanto.exec-mount.v1")
        .key("exec", exec)
        .u64("index", index as u64)
        .key("source", source)
        .finish()
}

/// A container's image as a tarball: the manifest it holds.
pub(super) fn tarball_key(manifest_digest: &str) -> CacheKey {
    KeyBuilder::new("tanto.tarball.v1")
        .str("manifest", manifest_digest)
        .finish()
}

pub(super) fn layer_key(
    base: &CacheKey,
    source: Option<&CacheKey>,
    change: &ChangeData,
) -> CacheKey {
    let builder = KeyBuilder::new("tanto.layer.v1").key("base", base);
    match change {
        ChangeData::Copy {
            src_path,
            include,
            exclude,
            dest,
            mode,
        } => builder
            .str("change", "copy")
            .opt_key("source", source)
            .str("src", src_path)
            .strs("include", include)
            .strs("exclude", exclude)
            .str("dest", dest)
            .u64("mode", mode.map_or(u64::MAX, u64::from)),
        ChangeData::Add {
            src_path,
            dest,
            into,
            mode,
            ..
        } => builder
            .str("change", "add")
            .opt_key("source", source)
            .str("src", src_path)
            .str("dest", dest)
            .bool("into", *into)
            .u64("mode", mode.map_or(u64::MAX, u64::from)),
        ChangeData::NewFile {
            path,
            contents,
            mode,
        } => builder
            .str("change", "new-file")
            .str("path", path)
            .bytes("contents", contents)
            .u64("mode", u64::from(*mode)),
        ChangeData::NewDirectory { path, mode } => builder
            .str("change", "new-directory")
            .str("path", path)
            .u64("mode", u64::from(*mode)),
        ChangeData::EnsureDirectory { path } => {
            builder.str("change", "ensure-directory").str("path", path)
        }
        ChangeData::Remove { path } => builder.str("change", "remove").str("path", path),
        ChangeData::RemoveMatching { path } => {
            builder.str("change", "remove-matching").str("path", path)
        }
        ChangeData::Symlink { target, link } => builder
            .str("change", "symlink")
            .str("link", link)
            .str("target", target),
        // The owner as given: what names resolve to is in the base's key.
        ChangeData::Chown { path, owner } => builder
            .str("change", "chown")
            .str("path", path)
            .str("owner", owner),
        ChangeData::Timestamps { path, seconds } => builder
            .str("change", "timestamps")
            .str("path", path)
            .u64("seconds", *seconds as u64),
        ChangeData::Patch { root, patch } => builder
            .str("change", "patch")
            .str("root", root)
            .str("patch", patch),
        ChangeData::Replace {
            path,
            search,
            replacement,
            all,
            first_from,
        } => builder
            .str("change", "replace")
            .str("path", path)
            .str("search", search)
            .str("replacement", replacement)
            .bool("all", *all)
            .u64("first-from", first_from.map_or(u64::MAX, u64::from)),
    }
    .finish()
}

/// `Directory.diff`: both trees and where each is seen from.
pub(super) fn diff_key(
    lower: &CacheKey,
    lower_path: &str,
    upper: &CacheKey,
    upper_path: &str,
) -> CacheKey {
    KeyBuilder::new("tanto.diff.v1")
        .key("lower", lower)
        .str("lower-path", lower_path)
        .key("upper", upper)
        .str("upper-path", upper_path)
        .finish()
}

/// `Directory.withChanges`: the directory changed, where, and both trees
/// of the changeset with where each is seen from.
pub(super) fn with_changes_key(
    (base, base_path): (&CacheKey, &str),
    (before, before_path): (&CacheKey, &str),
    (after, after_path): (&CacheKey, &str),
) -> CacheKey {
    KeyBuilder::new("tanto.with-changes.v1")
        .key("base", base)
        .str("base-path", base_path)
        .key("before", before)
        .str("before-path", before_path)
        .key("after", after)
        .str("after-path", after_path)
        .finish()
}

/// An exec: see `ops/exec.rs` for what it covers.
///
/// The extra CA certificates steps trust (`ca_certs.rs`) stay out, as in
/// Dagger: they are the network's business, not the step's. The executor
/// takes them out of the result again, so the same step on a network with
/// an inspecting proxy and on one without makes the same result, and a
/// result cached behind the proxy is the one a runner elsewhere would make.
/// A step that failed for want of them (a certificate error) was never
/// cached, so adding them later reruns it; one that hid the failure
/// (`curl … || true`) is cached as it ran, as with any network flake.
///
/// Squashed owners go in even where the rootfs key says so already: a step
/// on a host directory that asks for user 1000 runs as root when squashed.
///
/// Volatile variables (`withVolatileVariable`) go in by name only, as in
/// Dagger: a new value alone reuses the result. Like squashed owners, the
/// field is there only when there are some, so every other key stays the
/// one it always was; so is the platform, only when not the host's.
pub(super) fn exec_key(
    exec: &ExecOp,
    rootfs: &CacheKey,
    settings: &Settings,
    args: &[String],
    mounts: &[(String, ReadyMount)],
    services: &[(String, CacheKey)],
    owners: Owners,
) -> CacheKey {
    let mut key = KeyBuilder::new("tanto.exec.v1")
        .key("rootfs", rootfs)
        .strs("args", args)
        .strs("env", &settings.process_env())
        .str("workdir", &settings.workdir_or_root())
        .str("user", &settings.user)
        .str("stdin", &exec.stdin)
        .str("redirect-stdout", &exec.redirect_stdout)
        .str("redirect-stderr", &exec.redirect_stderr)
        .str("expect", exec.expect.code());
    for (target, mount) in mounts {
        key = key.str("mount", target);
        key = match mount {
            ReadyMount::Directory {
                key: input,
                read_only,
                ..
            } => key.key("directory", input).bool("read-only", *read_only),
            ReadyMount::File { key: input, .. } => key.key("file", input),
            ReadyMount::Cache { name, sharing } => {
                key.str("cache", name).str("sharing", sharing.code())
            }
            ReadyMount::Temp => key.str("temp", ""),
            ReadyMount::Secret { secret, mode } => key
                .str("secret", secret.keyed_hash())
                .u64("mode", u64::from(*mode)),
            // The socket's path: what its server answers is the host's
            // business, as a network's is.
            ReadyMount::Socket { host_path } => key.str("socket", &host_path.to_string_lossy()),
        };
    }
    for (name, secret) in &exec.secret_env {
        key = key
            .str("secret-env", name)
            .str("secret", secret.keyed_hash());
    }
    if !settings.volatile_env.is_empty() {
        key = key.strs("volatile-env", &settings.volatile_names());
    }
    // Asked to run again whatever is cached (`tanto build --no-cache`).
    if let Some(buster) = &exec.cache_buster {
        key = key.str("cache-buster", buster);
    }
    // Without a network, a step may fail where it succeeded with one.
    if exec.no_network {
        key = key.bool("no-network", true);
    }
    // What a bound service answers is part of the step's input; where it
    // ran (its address) is not.
    for (alias, service) in services {
        key = key.str("service-alias", alias).key("service", service);
    }
    // The same root run as another architecture makes another result.
    if exec.platform != registry::Platform::host() {
        key = key.str("platform", &exec.platform.to_string());
    }
    with_owners(key, owners).finish()
}

#[cfg(test)]
mod tests;
