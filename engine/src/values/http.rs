//! A file downloaded over HTTP (`Query.http`, a Dockerfile's `ADD URL`):
//! keyed by its request, its layer by its content (`ops/http.rs`).

use std::sync::Arc;

use crate::context::Context;
use crate::error::Error;
use crate::node::{ContainerPath, HttpSpec, Node, Op};
use crate::secret::Secret;
use crate::values::File;

impl File {
    /// The download `Engine::http` and `ADD URL` ask for; the arguments are
    /// described there.
    pub(crate) fn http(
        ctx: Arc<Context>,
        url: &str,
        name: Option<&str>,
        permissions: Option<u32>,
        checksum: Option<&str>,
        auth: Option<&Secret>,
    ) -> File {
        let name = name.map_or_else(|| crate::download::default_name(url), str::to_owned);
        let shown = crate::download::shown_url(url);
        let node = if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            Node::new(
                Op::Failed(Arc::new(Error::HttpName { name: name.clone() })),
                format!("http {shown}"),
            )
        } else {
            Node::new(
                Op::Http(Box::new(HttpSpec {
                    url: url.to_owned(),
                    name: name.clone(),
                    mode: permissions.unwrap_or(0o600),
                    checksum: checksum.map(str::to_owned),
                    auth: auth.cloned(),
                })),
                format!("http {shown}"),
            )
        };
        File::new(ctx, node, ContainerPath::known(&format!("/{name}")))
    }
}
