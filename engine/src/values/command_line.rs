//! Commands as people read them: in step names, progress and errors.

/// Characters of a command a step's name keeps. A name is repeated on
/// every progress line and in every error about its step, and a command
/// can be a long script or carry a large argument.
const NAME_LIMIT: usize = 200;

/// Args as a person would type them: `sh -c "make test"`.
pub fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
            {
                a.clone()
            } else {
                format!("{a:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// [`shell_words`], cut to [`NAME_LIMIT`] characters with `…` where it was cut.
pub(crate) fn step_name(args: &[String]) -> String {
    // Only the start is shown: quote no more of each argument than that.
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.chars().take(NAME_LIMIT + 1).collect())
        .collect();
    let words = shell_words(&shown);
    match words.char_indices().nth(NAME_LIMIT) {
        Some((cut, _)) => format!("{}…", &words[..cut]),
        None => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_named_as_typed() {
        let args = ["sh", "-c", "make test"].map(String::from);
        assert_eq!(shell_words(&args), r#"sh -c "make test""#);
        assert_eq!(step_name(&args), r#"sh -c "make test""#);
    }

    #[test]
    fn a_long_command_names_its_step_by_its_start() {
        let args = ["sh".to_owned(), "-c".to_owned(), "é".repeat(200_000)];
        let name = step_name(&args);
        assert_eq!(name.chars().count(), NAME_LIMIT + 1);
        assert!(name.starts_with(r#"sh -c "éé"#) && name.ends_with("é…"));
        let exact = ["x".repeat(NAME_LIMIT)];
        assert_eq!(step_name(&exact), exact[0]);
    }
}
