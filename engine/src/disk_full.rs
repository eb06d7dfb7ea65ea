//! Running out of disk, said as what it is: an error whose cause is ENOSPC
//! anywhere in its chain, or a step that failed while the store's disk was
//! nearly full, becomes [`Error::DiskFull`], naming the store, its free
//! space and `tanto prune`. Whatever failed was never committed (every
//! write is temp-then-rename), so the store works again once space is
//! freed.

use std::path::Path;

use crate::error::Error;

/// Below this much free, a failed step is taken to have run out of space.
const NEARLY_FULL: u64 = 16 << 20;

/// `error`, or [`Error::DiskFull`] around it when the disk under `store`
/// ran out.
pub(crate) fn explain(store: &Path, error: Error) -> Error {
    if said_already(&error) {
        return error;
    }
    let free = snapshotter::disk_space(store).map(|(_, free)| free).ok();
    let out_of_space = caused_by_enospc(&error)
        || (matches!(unshared(&error), Error::ExecFailed { .. })
            && free.is_some_and(|f| f < NEARLY_FULL));
    if !out_of_space {
        return error;
    }
    Error::DiskFull {
        store: store.to_owned(),
        free: free.unwrap_or(0),
        source: Box::new(error),
    }
}

/// The error under the scheduler's sharing wrappers, which are transparent
/// (their `source` skips the error they wrap).
fn unshared(error: &Error) -> &Error {
    match error {
        Error::Shared(inner) => unshared(inner),
        other => other,
    }
}

/// Whether a step below already said so: each op up the DAG fails with it.
fn said_already(error: &Error) -> bool {
    matches!(unshared(error), Error::DiskFull { .. })
}

fn caused_by_enospc(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.raw_os_error() == Some(libc::ENOSPC) {
                return true;
            }
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enospc_anywhere_in_the_chain_is_a_full_disk() {
        let store = tempfile::tempdir().unwrap();
        let full = Error::Memo {
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        let explained = explain(store.path(), full);
        let message = crate::report(&explained);
        assert!(matches!(explained, Error::DiskFull { .. }), "{message}");
        assert!(
            message.contains("tanto prune")
                && message.contains(&store.path().display().to_string()),
            "{message}"
        );
        let other = Error::Memo {
            path: "/x".into(),
            source: std::io::Error::from_raw_os_error(libc::EACCES),
        };
        assert!(matches!(explain(store.path(), other), Error::Memo { .. }));
    }
}
