//! The diff op (`Directory.diff`): what one tree has that another lacks or
//! has otherwise, as a chain of one layer (`snapshotter::diff_into_layer`
//! says what counts as changed), keyed by both trees.

use std::sync::Arc;

use crate::context::Context;
use crate::error::Error;
use crate::node::{ContainerPath, Node};
use crate::solved::{blocking, Solved};

use super::keys::diff_key;
use super::{memo_layer, resolve_path, solve};

pub(super) async fn solve_diff(
    ctx: &Arc<Context>,
    node: &Arc<Node>,
    (lower, lower_path): (&Arc<Node>, &ContainerPath),
    (upper, upper_path): (&Arc<Node>, &ContainerPath),
) -> Result<Solved, Error> {
    let (lower, upper) = futures::future::join(solve(ctx, lower), solve(ctx, upper)).await;
    let (lower, upper) = (lower?, upper?);
    let lower_path = resolve_path(ctx, lower_path).await?;
    let upper_path = resolve_path(ctx, upper_path).await?;
    let key = diff_key(&lower.key, &lower_path, &upper.key, &upper_path);
    let step_ctx = Arc::clone(ctx);
    let name = node.name.clone();
    ctx.scheduler
        .solve(key, node.name.clone(), move |_| {
            blocking(move || {
                let parents: Vec<_> = lower
                    .layers
                    .iter()
                    .chain(upper.layers.iter())
                    .cloned()
                    .collect();
                memo_layer(&step_ctx, key, &name, &parents, &[], |layer| {
                    snapshotter::diff_into_layer(
                        &lower.view(),
                        &lower_path,
                        &upper.view(),
                        &upper_path,
                        layer,
                    )
                    .map_err(|source| Error::FileOp {
                        path: upper_path.clone(),
                        source: Box::new(source),
                    })
                })
            })
        })
        .await
        .map_err(Error::Shared)
}
