//! The engine every command that runs steps starts the same way: on the
//! store, with the user's registry options (plain-HTTP registries, registry
//! caches), reporting to the progress view; and ends the same way: results
//! exported to the registry caches, then the store collected.

use std::path::Path;

use anyhow::Context as _;

use crate::output;

/// The global options about registries, as given on the command line.
#[derive(Clone, Debug, Default)]
pub struct Registries {
    /// `--insecure-registry`
    pub insecure: Vec<String>,
    /// `--cache-from`
    pub cache_from: Vec<String>,
    /// `--cache-to`
    pub cache_to: Vec<String>,
}

impl Registries {
    /// An engine configuration on `store_root` with these options, the
    /// cache specs checked.
    pub fn config(&self, store_root: &Path) -> Result<engine::EngineConfig, engine::Error> {
        Ok(engine::EngineConfig {
            store_root: store_root.to_owned(),
            insecure_registries: self.insecure.clone(),
            cache_from: self
                .cache_from
                .iter()
                .map(|spec| engine::CacheImport::parse(spec))
                .collect::<Result<_, _>>()?,
            cache_to: self
                .cache_to
                .iter()
                .map(|spec| engine::CacheExport::parse(spec))
                .collect::<Result<_, _>>()?,
            ..Default::default()
        })
    }

    /// The same options for another tanto process (`tanto run`'s session).
    pub fn args(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (flag, values) in [
            ("--insecure-registry", &self.insecure),
            ("--cache-from", &self.cache_from),
            ("--cache-to", &self.cache_to),
        ] {
            for value in values {
                args.push(format!("{flag}={value}"));
            }
        }
        args
    }
}

pub fn engine(
    store_root: &Path,
    registries: &Registries,
    observer: engine::Observer,
) -> Result<engine::Engine, engine::Error> {
    with_terminal(store_root, registries, observer, None)
}

/// An engine that may open interactive shells on the user's terminal
/// (`tanto call … terminal`, `tanto call -i`).
pub fn with_terminal(
    store_root: &Path,
    registries: &Registries,
    observer: engine::Observer,
    terminal: Option<engine::TerminalAccess>,
) -> Result<engine::Engine, engine::Error> {
    engine::Engine::new(engine::EngineConfig {
        observer: Some(observer),
        terminal,
        ..registries.config(store_root)?
    })
}

/// What ends every run: its results pushed to the `--cache-to` caches (a
/// failure fails the command, unless the cache says `ignore-error=true`),
/// then the store brought back within its policy.
pub fn finish(engine: &engine::Engine) -> anyhow::Result<()> {
    let exported = engine.export_cache();
    crate::gc::collect(engine);
    for report in exported.context("the run's results were not exported")? {
        let mut line = format!(
            "cache: {} results pushed to {}, {} there already",
            report.pushed, report.place, report.present
        );
        if report.secret_steps > 0 {
            line.push_str(&format!(
                "; {} results of steps that read a secret left out (secret-steps=export to include them)",
                report.secret_steps
            ));
        }
        if report.not_returned > 0 {
            line.push_str(&format!(
                "; {} results the run only worked with left out (mode=min)",
                report.not_returned
            ));
        }
        output::status(&line);
    }
    Ok(())
}
