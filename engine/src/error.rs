#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the store")]
    Store {
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot pull {image}")]
    Registry {
        image: String,
        #[source]
        source: Box<registry::Error>,
    },

    #[error("cannot pull {image}: storing {what}")]
    Save {
        image: String,
        what: String,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot pull {image}: layer {layer}")]
    Layer {
        image: String,
        layer: String,
        #[source]
        source: Box<snapshotter::Error>,
    },

    #[error("cannot pull {image}: layer {layer} has media type {media_type:?}, which tanto cannot unpack (it knows tar, tar+gzip and tar+zstd layers)")]
    UnsupportedLayer {
        image: String,
        layer: String,
        media_type: String,
    },

    #[error("cannot pull {image}: its manifest lists {layers} layers but its config {diff_ids} diff ids; the image is malformed")]
    LayerCount {
        image: String,
        layers: usize,
        diff_ids: usize,
    },

    #[error("cannot pull {image}: {detail}")]
    Malformed { image: String, detail: String },

    #[error("a step crashed: {detail}")]
    StepPanicked { detail: String },

    /// An error shared by every request that waited on the same step.
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
}
