//! Who owns the files of an unpacked layer: the ids its tar records, or —
//! where tanto's user namespace maps one id only and the user asked for it
//! (the engine's `TANTO_SINGLE_ID=squash`) — tanto itself, for every entry.
//!
//! A squashed layer is not the layer its diff id names: the same tar gives
//! another tree. So it is another snapshot (`sha256-<hex>-squashed`), and a
//! store used both ways never hands one in place of the other.

/// How an unpacked layer's entries are owned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Owners {
    /// As the layer records them: uid N of the image is uid N of the
    /// namespace (chown fails for an id the namespace does not map).
    #[default]
    Recorded,
    /// Every entry owned by the unpacking process (in single-id mode, the
    /// one mapped id, 0:0), with the setuid and setgid bits of the files
    /// that belonged to someone else dropped.
    Squashed,
}

impl Owners {
    /// What a layer snapshot's id ends with: `sha256-<hex><suffix>`.
    pub(crate) fn id_suffix(self) -> &'static str {
        match self {
            Owners::Recorded => "",
            Owners::Squashed => "-squashed",
        }
    }

    /// Added to a layer's description in the metadata (`tanto du`).
    pub(crate) fn note(self) -> &'static str {
        match self {
            Owners::Recorded => "",
            Owners::Squashed => " (owners squashed)",
        }
    }

    /// The owners named by a layer snapshot id's tail (what follows the
    /// diff id's hex), and the hex.
    pub(crate) fn of_id_tail(tail: &str) -> (&str, Owners) {
        match tail.strip_suffix(Owners::Squashed.id_suffix()) {
            Some(hex) => (hex, Owners::Squashed),
            None => (tail, Owners::Recorded),
        }
    }
}

/// The owner every entry of a squashed layer gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Squash {
    pub uid: u64,
    pub gid: u64,
}

impl Squash {
    /// This process's own ids: chown to them needs no privilege, and in
    /// single-id mode they are the namespace's only ones (0:0).
    pub(crate) fn own() -> Squash {
        Squash {
            uid: u64::from(nix::unistd::geteuid().as_raw()),
            gid: u64::from(nix::unistd::getegid().as_raw()),
        }
    }

    /// Rewrites an entry's owner and mode. A file that was setuid (setgid)
    /// to another owner (group) loses that bit: kept, it would run as the
    /// one id, root, which the image never granted — and files travel
    /// (exported, copied into layers that are published) to where root is
    /// real root. A directory keeps its bits: setgid on one only passes its
    /// group, now the one id, to new entries.
    pub(crate) fn apply(self, uid: &mut u64, gid: &mut u64, mode: &mut u32, is_dir: bool) {
        if !is_dir {
            if *uid != self.uid {
                *mode &= !libc::S_ISUID;
            }
            if *gid != self.gid {
                *mode &= !libc::S_ISGID;
            }
        }
        (*uid, *gid) = (self.uid, self.gid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: Squash = Squash { uid: 0, gid: 0 };

    fn squashed(uid: u64, gid: u64, mode: u32, is_dir: bool) -> (u64, u64, u32) {
        let (mut uid, mut gid, mut mode) = (uid, gid, mode);
        ROOT.apply(&mut uid, &mut gid, &mut mode, is_dir);
        (uid, gid, mode)
    }

    #[test]
    fn every_owner_becomes_the_one_id() {
        assert_eq!(squashed(1000, 1000, 0o644, false), (0, 0, 0o644));
        assert_eq!(squashed(0, 8, 0o775, true), (0, 0, 0o775));
        assert_eq!(squashed(0, 0, 0o600, false), (0, 0, 0o600));
    }

    #[test]
    fn set_id_bits_go_only_where_the_owner_changed() {
        // setgid shadow, setuid games, setuid root.
        assert_eq!(squashed(0, 42, 0o2755, false), (0, 0, 0o755));
        assert_eq!(squashed(5, 60, 0o4755, false), (0, 0, 0o755));
        assert_eq!(squashed(5, 0, 0o6755, false), (0, 0, 0o2755));
        assert_eq!(squashed(0, 0, 0o4755, false), (0, 0, 0o4755));
        // A setgid directory (Debian's /var/mail) keeps it.
        assert_eq!(squashed(0, 8, 0o2775, true), (0, 0, 0o2775));
    }

    #[test]
    fn snapshot_ids_tell_the_two_apart() {
        assert_eq!(Owners::of_id_tail("ab12"), ("ab12", Owners::Recorded));
        assert_eq!(
            Owners::of_id_tail("ab12-squashed"),
            ("ab12", Owners::Squashed)
        );
    }
}
