//! Which fields Dagger's schema has: every object type's field names from
//! Dagger 0.21.8's SDL (`dagger-0.21-fields.txt`, written by
//! `scripts/schema-coverage --from-sdl`), so a field tanto lacks but Dagger
//! has is "not supported yet", not "unknown". The SDL the SDKs were checked
//! against, with arguments, is `dagger-0.21.graphql` (docs/dagger-schema.md).

use std::collections::HashSet;
use std::sync::OnceLock;

const FIELDS: &str = include_str!("dagger-0.21-fields.txt");

/// Whether Dagger's `type_name` has a field `field`.
pub(crate) fn has_field(type_name: &str, field: &str) -> bool {
    static KNOWN: OnceLock<HashSet<(String, String)>> = OnceLock::new();
    KNOWN
        .get_or_init(|| fields(FIELDS))
        .contains(&(type_name.to_owned(), field.to_owned()))
}

/// `(type, field)` pairs of lines `Type: field field …`; `#` starts a
/// comment line.
fn fields(list: &str) -> HashSet<(String, String)> {
    list.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .flat_map(|(type_name, names)| {
            names
                .split_whitespace()
                .map(move |name| (type_name.trim().to_owned(), name.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_daggers_fields_of_every_type() {
        assert!(has_field("Container", "withExec"));
        assert!(has_field("Container", "asService"));
        assert!(has_field("Directory", "dockerBuild"));
        assert!(has_field("Query", "git"));
        assert!(has_field("Changeset", "asPatch"));
        assert!(has_field("Query", "container"));
        assert!(!has_field("Container", "useEntrypoint")); // an argument, not a field
        assert!(!has_field("Container", "nope"));
    }
}
