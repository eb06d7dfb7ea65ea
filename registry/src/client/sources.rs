//! Pulls tried at each place registries.conf gives for a reference: its
//! mirrors first, then its origin. A mirror that fails only means trying the
//! next; one that cannot be reached at all is skipped for the rest of the
//! run, so a dead mirror costs one timeout, not one per layer.

use super::Client;
use crate::retry::MAX_ATTEMPTS;
use crate::{Error, Reference};

/// A mirror gets one retry: the origin behind it is the real fallback.
const MIRROR_ATTEMPTS: u32 = 2;

impl Client {
    /// `fetch` at each source of `reference` in turn, with the attempts it
    /// may make there; the first success, or the origin's error.
    pub(super) fn try_sources<T>(
        &self,
        reference: &Reference,
        mut fetch: impl FnMut(&Reference, u32) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let sources = self.inner.config.registries.pull_sources(reference)?;
        for source in sources {
            if !source.mirror {
                return fetch(&source.reference, MAX_ATTEMPTS);
            }
            let host = source.reference.registry().to_owned();
            if self
                .inner
                .unreachable_mirrors
                .lock()
                .unwrap()
                .contains(&host)
            {
                continue;
            }
            match fetch(&source.reference, MIRROR_ATTEMPTS) {
                Ok(found) => {
                    tracing::debug!("{reference}: served by the mirror {}", source.reference);
                    return Ok(found);
                }
                Err(e @ Error::Unreachable { .. }) => {
                    tracing::warn!(
                        "the mirror {host} cannot be reached ({e}); pulling from the next source \
                         this run"
                    );
                    self.inner.unreachable_mirrors.lock().unwrap().insert(host);
                }
                Err(e) => {
                    tracing::debug!(
                        "the mirror {} failed: {e}; trying the next source",
                        source.reference
                    );
                }
            }
        }
        unreachable!("pull_sources always ends with the origin")
    }
}
