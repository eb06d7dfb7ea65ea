//! Words as Docker reads them where it expands variables (`FROM`, `COPY`,
//! `ADD`, `ENV`, `ARG`, `LABEL`, `WORKDIR`, `USER`, `EXPOSE`, `VOLUME`,
//! `STOPSIGNAL`): split on blanks outside quotes, then each word's quotes
//! and escapes removed and `$NAME`, `${NAME}`, `${NAME:-word}`,
//! `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`, `${NAME:?message}` and
//! `${NAME?message}` replaced. Inside single quotes nothing is expanded;
//! inside double quotes variables are, and the escape character escapes
//! only `"`, `$` and itself. `RUN`, `CMD` and `ENTRYPOINT` are left to the
//! shell, as Docker leaves them.

/// The words of `text`, quotes and escapes kept, for [`expand`].
pub fn words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == escape && quote != Some('\'') {
            word.push(c);
            if let Some(next) = chars.next() {
                word.push(next);
            }
            in_word = true;
            continue;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            Some(_) => word.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                word.push(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `word` with its quotes and escapes removed and its variables replaced
/// from `lookup`. An error says what is wrong (an unclosed quote or brace,
/// a `${NAME:?message}` whose variable is unset).
pub fn expand(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some('\'') if c == '\'' => quote = None,
            Some('\'') => out.push(c),
            Some(_) if c == '"' => quote = None,
            Some(_) if c == escape => match chars.get(i + 1) {
                Some(&next) if next == '"' || next == '$' || next == escape => {
                    out.push(next);
                    i += 1;
                }
                _ => out.push(c),
            },
            _ if c == '$' => {
                i = variable(&chars, i, escape, lookup, &mut out)?;
                continue;
            }
            Some(_) => out.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == escape => {
                if let Some(&next) = chars.get(i + 1) {
                    out.push(next);
                    i += 1;
                }
            }
            None => out.push(c),
        }
        i += 1;
    }
    match quote {
        Some(q) => Err(format!("{word}: the quote {q} is never closed")),
        None => Ok(out),
    }
}

/// `text` with its variables replaced and nothing else: quotes stay, and
/// only `\$` (the escape character before `$`) is taken as a `$`. For the
/// bodies of here-documents whose delimiter is not quoted.
pub fn expand_variables(
    text: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            c if c == escape && chars.get(i + 1) == Some(&'$') => {
                out.push('$');
                i += 2;
            }
            '$' => i = variable(&chars, i, escape, lookup, &mut out)?,
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Expands the variable at `chars[at]` (a `$`) into `out`; the index after it.
fn variable(
    chars: &[char],
    at: usize,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut String,
) -> Result<usize, String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(at + 1) {
        Some('{') => {
            let close = matching_brace(chars, at + 2).ok_or_else(|| {
                format!(
                    "the ${{ at {} is never closed",
                    chars[at..].iter().collect::<String>()
                )
            })?;
            let inner: String = chars[at + 2..close].iter().collect();
            let name_end = inner.find(|c: char| !is_name(c)).unwrap_or(inner.len());
            let (name, rest) = inner.split_at(name_end);
            if name.is_empty() {
                return Err(format!("${{{inner}}} names no variable"));
            }
            let value = lookup(name);
            let nested = |word: &str| expand(word, escape, lookup);
            let set = value.as_deref().is_some_and(|v| !v.is_empty());
            let expanded = match rest {
                "" => value.unwrap_or_default(),
                _ if rest.starts_with(":-") => match set {
                    true => value.unwrap_or_default(),
                    false => nested(&rest[2..])?,
                },
                _ if rest.starts_with('-') => match &value {
                    Some(v) => v.clone(),
                    None => nested(&rest[1..])?,
                },
                _ if rest.starts_with(":+") => match set {
                    true => nested(&rest[2..])?,
                    false => String::new(),
                },
                _ if rest.starts_with('+') => match value {
                    Some(_) => nested(&rest[1..])?,
                    None => String::new(),
                },
                _ if rest.starts_with(":?") || rest.starts_with('?') => {
                    let message = rest.trim_start_matches(':')[1..].to_owned();
                    let missing = if rest.starts_with(':') {
                        !set
                    } else {
                        value.is_none()
                    };
                    if missing {
                        return Err(format!(
                            "{name}: {}",
                            if message.is_empty() {
                                "is not set".to_owned()
                            } else {
                                message
                            }
                        ));
                    }
                    value.unwrap_or_default()
                }
                _ => return Err(format!("${{{inner}}}: unsupported modifier {rest:?}")),
            };
            out.push_str(&expanded);
            Ok(close + 1)
        }
        Some(&c) if is_name(c) && !c.is_ascii_digit() => {
            let mut end = at + 1;
            while end < chars.len() && is_name(chars[end]) {
                end += 1;
            }
            let name: String = chars[at + 1..end].iter().collect();
            out.push_str(&lookup(&name).unwrap_or_default());
            Ok(end)
        }
        _ => {
            out.push('$');
            Ok(at + 1)
        }
    }
}

/// The index of the `}` closing a `${` whose contents start at `from`.
fn matching_brace(chars: &[char], from: usize) -> Option<usize> {
    let mut depth = 1;
    let mut i = from;
    while i < chars.len() {
        match chars[i] {
            '{' if i > 0 && chars[i - 1] == '$' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/root".into()),
            "EMPTY" => Some(String::new()),
            "V" => Some("1.2".into()),
            _ => None,
        }
    }

    fn x(word: &str) -> String {
        expand(word, '\\', &env).unwrap()
    }

    #[test]
    fn variables_expand_as_docker_expands_them() {
        assert_eq!(x("$HOME/bin"), "/root/bin");
        assert_eq!(x("${HOME}bin"), "/rootbin");
        assert_eq!(x("${UNSET:-fallback}"), "fallback");
        assert_eq!(x("${EMPTY:-fallback}"), "fallback");
        assert_eq!(x("${EMPTY-fallback}"), "");
        assert_eq!(x("${V:+v$V}"), "v1.2");
        assert_eq!(x("${UNSET:+x}"), "");
        assert_eq!(x("${UNSET:-${V}}"), "1.2");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$1"), "$1");
        let err = expand("${UNSET:?give a version}", '\\', &env).unwrap_err();
        assert!(err.contains("UNSET: give a version"), "{err}");
        assert!(expand("${HOME", '\\', &env).is_err());
    }

    #[test]
    fn quotes_and_escapes_as_docker_reads_them() {
        assert_eq!(x("'$HOME'"), "$HOME");
        assert_eq!(x("\"$HOME and \\$HOME\""), "/root and $HOME");
        assert_eq!(x("\\$HOME"), "$HOME");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(expand("`$HOME", '`', &env).unwrap(), "$HOME");
        assert!(expand("\"open", '\\', &env)
            .unwrap_err()
            .contains("never closed"));
    }

    #[test]
    fn here_documents_expand_variables_only() {
        assert_eq!(
            expand_variables("home='$HOME' \\$V ${V:-x}\n", '\\', &env).unwrap(),
            "home='/root' $V 1.2\n"
        );
    }

    #[test]
    fn words_split_outside_quotes() {
        assert_eq!(
            words(r#"a=1 b="two words" c='x y'  d\ e"#, '\\'),
            ["a=1", "b=\"two words\"", "c='x y'", "d\\ e"]
        );
        assert_eq!(words("  ", '\\'), Vec::<String>::new());
    }
}
