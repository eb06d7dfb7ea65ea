//! The engine every command that runs steps starts the same way: on the
//! store, trusting the registries the user named as plain HTTP, reporting
//! to the progress view.

use std::path::Path;

pub fn engine(
    store_root: &Path,
    insecure_registries: Vec<String>,
    observer: engine::Observer,
) -> Result<engine::Engine, engine::Error> {
    with_terminal(store_root, insecure_registries, observer, None)
}

/// An engine that may open interactive shells on the user's terminal
/// (`tanto call … terminal`, `tanto call -i`).
pub fn with_terminal(
    store_root: &Path,
    insecure_registries: Vec<String>,
    observer: engine::Observer,
    terminal: Option<engine::TerminalAccess>,
) -> Result<engine::Engine, engine::Error> {
    engine::Engine::new(engine::EngineConfig {
        store_root: store_root.to_owned(),
        insecure_registries,
        observer: Some(observer),
        terminal,
        ..Default::default()
    })
}
