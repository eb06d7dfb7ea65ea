//! The with-changes op (`Directory.withChanges`): a changeset's removals
//! whited out and its new and changed entries copied, as one layer on the
//! directory it is applied to (`snapshotter::Comparison` says what
//! changed), keyed by the three trees.

use std::sync::Arc;

use crate::context::Context;
use crate::error::Error;
use crate::node::{ChangesOp, Node};
use crate::solved::{blocking, Solved};

use super::keys::with_changes_key;
use super::{memo_layer, resolve_path, solve};

pub(super) async fn solve_with_changes(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    op: &ChangesOp,
) -> Result<Solved, Error> {
    let (base, before, after) = futures::future::join3(
        solve(ctx, &op.base),
        solve(ctx, &op.before),
        solve(ctx, &op.after),
    )
    .await;
    let (base, before, after) = (base?, before?, after?);
    let base_path = resolve_path(ctx, &op.base_path).await?;
    let before_path = resolve_path(ctx, &op.before_path).await?;
    let after_path = resolve_path(ctx, &op.after_path).await?;
    let key = with_changes_key(
        (&base.key, &base_path),
        (&before.key, &before_path),
        (&after.key, &after_path),
    );
    let step_ctx = Arc::clone(ctx);
    let name = node.name.clone();
    ctx.scheduler
        .solve(key, node.name.clone(), move |_| {
            blocking(move || {
                let parents: Vec<_> = [&base, &before, &after]
                    .iter()
                    .flat_map(|s| s.layers.iter().cloned())
                    .collect();
                memo_layer(&step_ctx, key, &name, &parents, &base.layers, |layer| {
                    let (before_view, after_view) = (before.view(), after.view());
                    let comparison = snapshotter::Comparison {
                        before: &before_view,
                        before_path: &before_path,
                        after: &after_view,
                        after_path: &after_path,
                    };
                    comparison
                        .apply_into_layer(&base.view(), &base_path, layer)
                        .map(|_| ())
                        .map_err(|source| Error::FileOp {
                            path: base_path.clone(),
                            source: Box::new(source),
                        })
                })
            })
        })
        .await
        .map_err(Error::Shared)
}
