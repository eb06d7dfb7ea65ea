//! Which fields Dagger's schema has, from the SDL that the 0.21 SDKs were
//! checked against (docs/dagger-schema.md): a field tanto lacks but Dagger
//! has is "not supported yet", not "unknown".

use std::collections::HashSet;
use std::sync::OnceLock;

const SDL: &str = include_str!("dagger-0.21.graphql");

/// Whether Dagger's `type_name` has a field `field`.
pub(crate) fn has_field(type_name: &str, field: &str) -> bool {
    static FIELDS: OnceLock<HashSet<(String, String)>> = OnceLock::new();
    FIELDS
        .get_or_init(|| fields(SDL))
        .contains(&(type_name.to_owned(), field.to_owned()))
}

/// `(type, field)` pairs of the SDL's object types. Fields sit two spaces
/// in; continuation lines of long argument lists sit deeper.
fn fields(sdl: &str) -> HashSet<(String, String)> {
    let mut fields = HashSet::new();
    let mut current: Option<String> = None;
    for line in sdl.lines() {
        if let Some(rest) = line.strip_prefix("type ") {
            current = rest.split_whitespace().next().map(str::to_owned);
        } else if line.starts_with('}') {
            current = None;
        } else if let Some(rest) = line.strip_prefix("# other Query fields") {
            // The SDL lists Query's other fields in a comment.
            let names = rest.split_once(':').map_or("", |(_, names)| names);
            for name in names.split(',').map(str::trim) {
                if name.chars().all(|c| c.is_ascii_alphanumeric()) && !name.is_empty() {
                    fields.insert(("Query".to_owned(), name.to_owned()));
                }
            }
        } else if let (Some(type_name), Some(rest)) = (&current, line.strip_prefix("  ")) {
            if rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                fields.insert((type_name.clone(), name));
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_daggers_fields_including_multi_line_ones() {
        assert!(has_field("Container", "withExec"));
        assert!(has_field("Container", "asService")); // arguments over several lines
        assert!(has_field("Directory", "dockerBuild"));
        assert!(has_field("Query", "git")); // from the comment
        assert!(has_field("Query", "container"));
        assert!(!has_field("Container", "useEntrypoint")); // an argument, not a field
        assert!(!has_field("Container", "nope"));
    }
}
