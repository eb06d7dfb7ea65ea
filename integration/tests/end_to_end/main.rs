//! tanto end to end: the built binary driven as a user would, as the
//! unprivileged `tanto-test`, against a real registry server, the real
//! kernel and the real SDKs.
//!
//! One test binary, one module per subject: it links once (each binary
//! carries all of tanto's debug info, so one per file cost gigabytes of disk
//! and minutes of linking), the test images and registries in `support` are
//! made once per run, and the test threads stay busy across subjects instead
//! of waiting for the slowest test of each file. Run one subject with
//! `cargo test -p integration --test end_to_end pull::`.
//!
//! Tests of different subjects run side by side, as the user's tanto
//! processes do: a test that looks for leftover processes or mounts must look
//! for ones only it could have made (its home in the command line, a sleep
//! length no other test uses).

mod support;

mod bad_images;
mod ca_certificates;
mod call;
mod changesets;
mod container_fields;
mod container_image_fields;
mod containers;
mod copying_snapshotter;
mod dagger_sdk_suites;
mod docker_build;
mod docker_build_vs_podman;
mod exec;
mod host_and_query;
mod hostile_steps;
mod killed;
mod modules;
mod pipeline;
mod platforms;
mod progress;
mod publish;
mod pull;
mod query;
mod registries;
mod registry_cache;
mod registry_cache_export;
mod runaway_steps;
mod sdk;
mod services;
mod session_limits;
mod single_id;
mod step_limits;
mod steps;
mod store_gc;
mod terminal;
mod typescript_modules;
