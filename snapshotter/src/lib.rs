//! The store: a content store of verified blobs and a snapshotter of layer
//! trees that overlay stacks into root file systems.
//!
//! Snapshots are best understood by their lifecycle. Pulling an image ingests
//! each layer: its blob streams in, is verified against the manifest's digest
//! and size while it is unpacked into a temp directory (whiteouts turned into
//! what overlay expects), its tar checked against the config's diff id, and
//! only then is the directory renamed into `snapshots/` — committed, never to
//! change. A root file system is an overlay mount whose lower directories are
//! the committed snapshots of an image's layers, top first. Running a step
//! (next) adds a writable upper directory that becomes a snapshot of its own
//! on commit.
//!
//! The snapshotter makes and reads these trees (unpacked, copied into,
//! imported from the host, packed back into layers, exported); it never
//! mounts or runs anything. The executor builds the overlay mount from the
//! snapshots' directories; `overlay` defines the format both rely on.

mod cache_volume;
mod changeset;
mod compression;
mod content;
mod copied_root;
mod copy;
mod diff;
mod digest;
mod error;
mod export;
mod filter;
mod gc;
mod host;
mod meta;
pub mod overlay;
mod owners;
mod pack;
mod packed;
mod results;
mod rewrite;
mod secret_key;
mod store;
mod streamed_export;
mod sys;
mod temp;
mod throwaway;
mod unpack;
mod view;

pub use cache_volume::{VolumeInUse, VolumeSharing};
pub use changeset::{export_changes, ChangedPaths, Comparison};
pub use compression::Compression;
pub use copied_root::{copy_chain, take_over_copy, write_changes, Changes, CopiedRoot};
pub use copy::{
    archive_compression, copy_into_layer, ensure_dir, extract_into_layer, make_dir, make_whiteout,
    write_new_file, ArchiveCompression, CopyStats,
};
pub use diff::diff_into_layer;
pub use error::Error;
pub use export::{export_dir, export_file};
pub use filter::Filter;
pub use gc::{disk_space, PruneReport, PruneRequest};
pub use host::{import_host_dir, import_host_file, HostImport};
pub use meta::{apparent_size, EntryInfo, EntryKind};
pub use owners::Owners;
pub use pack::{pack_layer, PackOptions, PackedLayer};
pub use results::{Active, Prepared, ResultKind};
pub use rewrite::{make_symlink, rewrite_tree};
pub use store::{Ingested, LayerBlob, LayerLock, Limits, Snapshot, Store};
pub use streamed_export::{export_streamed, OpenBlob, StreamedLayer};
pub use throwaway::Throwaway;
pub use unpack::UnpackStats;
pub use view::{ChainView, DirEntry, Entry, FileKind};
