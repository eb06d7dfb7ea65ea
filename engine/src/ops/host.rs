//! The host op: a host directory (or one file) imported into the store,
//! keyed by its content.

use std::sync::Arc;

use crate::cache_key::KeyBuilder;
use crate::context::Context;
use crate::error::Error;
use crate::node::{Node, Op};
use crate::scheduler::Outcome;
use crate::solved::{blocking, Solved};

use super::keys::host_key;

pub(super) async fn solve_host(ctx: &Arc<Context>, node: &Arc<Node>) -> Result<Solved, Error> {
    let Op::Host {
        path,
        include,
        exclude,
        file,
    } = &node.op
    else {
        unreachable!("solve_host is called for host nodes")
    };
    let path = ctx.workdir.join(path);
    let request = KeyBuilder::new("tanto.host-request.v1")
        .str("path", &path.to_string_lossy())
        .strs("include", include)
        .strs("exclude", exclude)
        .bool("file", *file)
        .finish();
    let step_ctx = Arc::clone(ctx);
    let (include, exclude, file) = (include.clone(), exclude.clone(), *file);
    ctx.scheduler
        .solve(request, node.name.clone(), move |_| {
            blocking(move || {
                let store = &step_ctx.store;
                let host_error = |source| Error::Host {
                    path: path.clone(),
                    source: Box::new(source),
                };
                let import = if file {
                    snapshotter::import_host_file(store, &path).map_err(host_error)?
                } else {
                    let filter =
                        snapshotter::Filter::new(&include, &exclude).map_err(host_error)?;
                    snapshotter::import_host_dir(store, &path, &filter).map_err(host_error)?
                };
                let solved = Solved::chain(host_key(&import.digest), vec![import.snapshot]);
                Ok(if import.reused {
                    Outcome::Cached(solved)
                } else {
                    Outcome::Ran(solved)
                })
            })
        })
        .await
        .map_err(Error::Shared)
}
