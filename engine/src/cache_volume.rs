//! Cache volumes as the API names them: a directory kept between runs, by
//! name, and how concurrent steps share it. The store keeps them
//! (`snapshotter`'s cache volumes); the sharing modes hold across `tanto`
//! processes because they are file locks there.

use snapshotter::VolumeSharing;

/// How concurrent steps share a cache volume (Dagger's `CacheSharingMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Sharing {
    /// Everyone uses the same directory at once.
    #[default]
    Shared,
    /// Each concurrent user gets a directory of its own.
    Private,
    /// One user at a time; others wait.
    Locked,
}

impl Sharing {
    /// The store's word for it.
    pub(crate) fn in_store(self) -> VolumeSharing {
        match self {
            Sharing::Shared => VolumeSharing::Shared,
            Sharing::Private => VolumeSharing::Private,
            Sharing::Locked => VolumeSharing::Locked,
        }
    }

    pub(crate) fn code(self) -> &'static str {
        match self {
            Sharing::Shared => "SHARED",
            Sharing::Private => "PRIVATE",
            Sharing::Locked => "LOCKED",
        }
    }
}
