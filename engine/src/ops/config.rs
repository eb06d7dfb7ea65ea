//! A container's config resolved: its image's config (solving the image)
//! with the container's edits applied, once per value.

use std::sync::Arc;

use crate::config::Settings;
use crate::context::Context;
use crate::error::Error;
use crate::node::LazyConfig;

/// The settings `config` stands for. Worked out once per [`LazyConfig`]:
/// every exec, path and image build of one container shares the answer.
pub(crate) async fn resolve_config(
    ctx: &Arc<Context>,
    config: &LazyConfig,
) -> Result<Arc<Settings>, Error> {
    config
        .resolved
        .get_or_try_init(|| async {
            // Its config only: the image's layers need not be on disk for it.
            let image = match &config.image {
                Some(image) => Some(super::solve_lazy(ctx, image).await?),
                None => None,
            };
            let base = image
                .and_then(|i| i.settings)
                .map(|s| (*s).clone())
                .unwrap_or_default();
            Ok(Arc::new(base.apply(&config.edits)))
        })
        .await
        .cloned()
}
