//! What the end of a chain prints, as `dagger call` prints it: strings as
//! they are, lists one item per line, an object as `Type@xxh3:<16 hex>`,
//! `--json` as indented JSON, and with `-o` a file or directory saved.

use std::io::Write as _;

/// `Container@xxh3:0123456789abcdef`: which object it is. Dagger prints a
/// digest of the object's recipe; tanto's IDs are per session, so this
/// digest only tells objects of one run apart.
pub fn object(type_name: &str, id: &str) -> String {
    let hash = blake3::hash(id.as_bytes()).to_hex();
    format!("{type_name}@xxh3:{}", &hash[..16])
}

/// A scalar result, as `dagger call` prints it.
pub fn scalar(value: &serde_json::Value, json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(value).unwrap_or_default();
    }
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| scalar(item, false))
            .collect::<Vec<_>>()
            .join("\n"),
        serde_json::Value::Object(map) => map
            .values()
            .map(|item| scalar(item, false))
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// Writes `text` to standard output, with a final newline on a terminal
/// or when it has none and is not empty.
pub fn out(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.is_empty() && !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_print_as_dagger_prints_them() {
        assert_eq!(
            scalar(&serde_json::json!("Hello, world!"), false),
            "Hello, world!"
        );
        assert_eq!(scalar(&serde_json::json!(["a", "b"]), false), "a\nb");
        assert_eq!(scalar(&serde_json::json!(3), false), "3");
        assert_eq!(scalar(&serde_json::json!(["a"]), true), "[\n  \"a\"\n]");
        let printed = object("Container", "some-id");
        assert!(
            printed.starts_with("Container@xxh3:") && printed.len() == 31,
            "{printed}"
        );
        assert_eq!(printed, object("Container", "some-id"));
    }
}
