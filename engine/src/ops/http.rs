//! The http op (`Query.http`): a URL downloaded by tanto into a layer of
//! one file, keyed by what was downloaded.
//!
//! Like a host directory, its key is only known once it is read: the
//! download runs as a step keyed by its *request* (URL, name, mode,
//! checksum, the auth secret's keyed hash), once per process, and the layer
//! it makes is keyed by the content's digest, name and mode. So the steps
//! above it rerun only when the content changed, and the same bytes from
//! two URLs are one layer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cache_key::KeyBuilder;
use crate::context::Context;
use crate::download::{download, shown_url};
use crate::error::Error;
use crate::memo::Kind;
use crate::node::{HttpSpec, Node};
use crate::solved::{blocking, Solved};

use super::keys::http_key;
use super::memo_outcome;

pub(super) async fn solve_http(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    spec: &HttpSpec,
) -> Result<Solved, Error> {
    let request = KeyBuilder::new("tanto.http-request.v1")
        .str("url", &spec.url)
        .str("name", &spec.name)
        .u64("mode", u64::from(spec.mode))
        .str("checksum", spec.checksum.as_deref().unwrap_or(""))
        .str(
            "auth",
            spec.auth.as_ref().map_or("", |secret| secret.keyed_hash()),
        )
        .finish();
    let step_ctx = Arc::clone(ctx);
    let spec = spec.clone();
    let name = node.name.clone();
    ctx.scheduler
        .solve(request, node.name.clone(), move |job| {
            let stop = Arc::new(AtomicBool::new(false));
            let stopper = Arc::clone(&stop);
            job.on_abandon(move || stopper.store(true, Ordering::Relaxed));
            blocking(move || fetch(&step_ctx, &spec, &name, &stop))
        })
        .await
        .map_err(Error::Shared)
}

fn fetch(
    ctx: &Context,
    spec: &HttpSpec,
    name: &str,
    stop: &AtomicBool,
) -> Result<crate::scheduler::Outcome<Solved>, Error> {
    let store_error = |source| Error::Store {
        source: Box::new(source),
    };
    let scratch = ctx.store.throwaway("http").map_err(store_error)?;
    let body = scratch.dir().join("body");
    let auth = spec.auth.as_ref().map(|secret| secret.plaintext());
    let downloaded = download(&spec.url, auth, &body, stop)?;
    if let Some(expected) = &spec.checksum {
        if *expected != downloaded.digest {
            return Err(Error::HttpChecksum {
                url: shown_url(&spec.url),
                expected: expected.clone(),
                actual: downloaded.digest,
            });
        }
    }
    tracing::debug!(
        "{}: {} bytes, {}",
        shown_url(&spec.url),
        downloaded.size,
        downloaded.digest
    );
    let key = http_key(&downloaded.digest, &spec.name, spec.mode);
    let entry = ctx
        .memo
        .get_or_build(Kind::Layer, &key, name, &[], |temp| {
            use std::os::unix::fs::PermissionsExt;
            let fs = temp.join("fs");
            let path = fs.join(&spec.name);
            std::fs::create_dir(&fs)
                .and_then(|()| std::fs::rename(&body, &path))
                .and_then(|()| {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(spec.mode))
                })
                .map_err(|source| Error::HttpWrite {
                    url: shown_url(&spec.url),
                    source,
                })
        })?;
    Ok(memo_outcome(
        &entry,
        Solved::chain(key, vec![entry.dir.join("fs")]),
    ))
}
