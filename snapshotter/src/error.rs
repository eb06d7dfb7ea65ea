//! The snapshotter's one error type. A variant names the operation that
//! failed and carries its context (digest, layer, path) as fields; the cause,
//! where there is one, is its `source`. Where the user can act, the message
//! says how.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use the store's metadata {}", path.display())]
    Metadata {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("the store at {} was written by a newer tanto (metadata schema {found}; this tanto knows up to {known}): upgrade tanto, or point TANTO_ROOT at another store", path.display())]
    NewerStore {
        path: PathBuf,
        found: i64,
        known: i64,
    },

    #[error("cannot make the store at {} private: another user owns it (a volume's root?); make it yours (chown), or set TANTO_ROOT to a directory below it, such as {}", path.display(), path.join("store").display())]
    StoreNotOwned { path: PathBuf },

    #[error("cannot use the store at {path}")]
    Store {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{digest:?} is not a sha256 digest (sha256: and 64 lowercase hex digits)")]
    InvalidDigest { digest: String },

    #[error("cannot write blob {digest} to the content store")]
    BlobWrite {
        digest: String,
        #[source]
        source: io::Error,
    },

    #[error("blob {expected} arrived with digest {actual} ({size} bytes); it was corrupted in transit or the registry serves the wrong data. Nothing was stored; pull again")]
    DigestMismatch {
        expected: String,
        actual: String,
        size: u64,
    },

    #[error(
        "blob {digest} is {actual} bytes, but its descriptor says {expected}; nothing was stored"
    )]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },

    #[error("layer {layer} unpacks to content with digest {actual}, but the image config says {expected}; the image is inconsistent")]
    DiffIdMismatch {
        layer: String,
        expected: String,
        actual: String,
    },

    #[error("cannot read layer {layer}")]
    Read {
        layer: String,
        #[source]
        source: io::Error,
    },

    #[error("layer {layer} expands to more than {limit} bytes, which looks like a decompression bomb; if the layer is genuine, raise the bound with TANTO_MAX_LAYER_BYTES")]
    TooLarge { layer: String, limit: u64 },

    #[error("layer {layer} has an unsafe entry {entry:?}: {reason}; the image is broken or malicious, and nothing was written outside the store")]
    UnsafeEntry {
        layer: String,
        entry: String,
        reason: String,
    },

    #[error("layer {layer} entry {entry:?} is owned by {uid}:{gid}, which this user namespace does not map; give your user a subordinate id range of 65536 ids in /etc/subuid and /etc/subgid (see `tanto doctor`), or, where that cannot be done (tanto then maps your user alone), set TANTO_SINGLE_ID=squash to unpack every file as owned by your user")]
    UnmappedId {
        layer: String,
        entry: String,
        uid: u64,
        gid: u64,
    },

    #[error("cannot unpack entry {entry:?} of layer {layer}")]
    Unpack {
        layer: String,
        entry: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot commit snapshot {id}")]
    Commit {
        id: String,
        #[source]
        source: io::Error,
    },

    #[error("invalid {list} pattern {pattern:?}: {reason}; patterns use *, ?, [..], ** and a leading ! (exclude only)")]
    InvalidPattern {
        list: &'static str,
        pattern: String,
        reason: &'static str,
    },

    #[error("{path}: no such file or directory; check the path (it is resolved inside the directory or container, symlinks included)")]
    NotFound { path: String },

    #[error("{path} is not a directory")]
    NotADirectory { path: String },

    #[error("{path}: file exists; remove it first (withoutFile) to put something else there")]
    AlreadyExists { path: String },

    #[error("{path} is not a regular file")]
    NotAFile { path: String },

    #[error("{path} is {size} bytes, more than the {limit} bytes that may be read into memory; export it instead")]
    FileTooLarge { path: String, size: u64, limit: u64 },

    #[error("resolving {path} went through more than 40 symlinks; a symlink loop?")]
    SymlinkLoop { path: String },

    #[error("cannot read {path} from layer {layer}")]
    LayerRead {
        layer: PathBuf,
        path: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot write {path} into layer {layer}")]
    LayerWrite {
        layer: PathBuf,
        path: String,
        #[source]
        source: io::Error,
    },

    #[error("cannot read host path {path}; check that it exists and is readable")]
    HostRead {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot snapshot host path {path} into the store")]
    HostImport {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot export to {path}: its parent directory {parent} does not exist; create it first (mkdir -p {parent})")]
    ExportParentMissing { path: PathBuf, parent: PathBuf },

    #[error("cannot export a directory to {path}: it exists and is not a directory; remove it or choose another path")]
    ExportNotADirectory { path: PathBuf },

    #[error(
        "cannot export a file to {path}: it exists and is a directory; give the file's full path"
    )]
    ExportIsADirectory { path: PathBuf },

    #[error("cannot export a directory to {path}: the export would put {conflict} where a directory exists; export with wipe or remove it first")]
    ExportConflict { path: PathBuf, conflict: PathBuf },

    /// Not a failure for the user: the export is then made the ordinary
    /// way, from the layers unpacked into the store.
    #[error("layer {layer} entry {entry:?} cannot be exported straight from the stream: {reason}")]
    NotStreamable {
        layer: String,
        entry: String,
        reason: String,
    },

    #[error("cannot export to {path}; nothing was changed there")]
    Export {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("cannot pack {path} into an image layer: overlay marked it with {marker:?}, which an OCI layer cannot express; rebuild the step without renaming directories across layers")]
    UnpackableLayerEntry { path: String, marker: String },
}
