//! The garbage collection that ends a session or a query: the store brought
//! back within its policy, and one line saying what went.

use crate::output;

/// Collects garbage with `engine`'s store, whose work is done. A failure is
/// a warning: the pipeline itself succeeded.
pub fn collect(engine: &engine::Engine) {
    match engine.collect_garbage() {
        Ok(None) => {}
        Ok(Some(collected)) => {
            let why = match collected.trigger {
                engine::gc_policy::Trigger::MaxUsedSpace => "the store was over max-used-space",
                engine::gc_policy::Trigger::MinFreeSpace => "the disk was under min-free-space",
            };
            let short = if collected.report.freed < collected.wanted {
                format!(
                    " of the {} wanted (the rest is in use or too recent)",
                    output::bytes(collected.wanted)
                )
            } else {
                String::new()
            };
            output::status(&format!(
                "gc: {why}: freed {}{short} in {} entries",
                output::bytes(collected.report.freed),
                collected.report.removed.len()
            ));
        }
        Err(error) => output::warning(&format!(
            "garbage collection failed: {}",
            engine::report(&error)
        )),
    }
}
