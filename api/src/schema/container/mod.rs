//! `Container` in Dagger's schema, one part per kind of verb, merged into
//! the one type: `config.rs` (the image config's edits), `files.rs` (the
//! root file system and mounts), `image.rs` (where the image comes from and
//! goes), `run.rs` (steps and their output, services), `inspect.rs`
//! (reading the config and the file system).

mod args;
pub(crate) use args::refuse_nesting;
mod config;
mod files;
mod image;
mod inspect;
mod run;
#[cfg(test)]
mod tests;

use async_graphql::{Context, MergedObject, Result, ID};

use super::state;
use crate::ids::Object as Value;

// No doc comment: on a merged object it would become the type's
// description, which Dagger's `Container` has none of here.
#[derive(MergedObject)]
#[graphql(name = "Container")]
pub(crate) struct ContainerObj(
    run::ContainerRun,
    config::ContainerConfig,
    files::ContainerFiles,
    image::ContainerImage,
    inspect::ContainerInspect,
);

impl ContainerObj {
    pub(crate) fn new(container: engine::Container) -> ContainerObj {
        ContainerObj(
            run::ContainerRun(container.clone()),
            config::ContainerConfig(container.clone()),
            files::ContainerFiles(container.clone()),
            image::ContainerImage(container.clone()),
            inspect::ContainerInspect(container),
        )
    }

    /// The engine's container every part holds.
    pub(crate) fn container(&self) -> &engine::Container {
        &self.4 .0
    }

    /// The `Node` interface's `id`, the same as the `id` field; a
    /// `Result`, as the resolvers `#[Object]` writes are.
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> Result<ID> {
        Ok(register(ctx, self.container()))
    }
}

/// An ID for `container`: cheap, runs nothing.
fn register(ctx: &Context<'_>, container: &engine::Container) -> ID {
    ID(state(ctx).ids.register(Value::Container(container.clone())))
}
