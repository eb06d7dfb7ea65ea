//! `.env` files as Dagger reads them (its `core/dotenv`): `NAME=value`
//! lines, `export ` tolerated. A plain value is taken as written; one with
//! quotes, backslashes or `$NAME` is a shell word: quotes removed,
//! `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME-default}` expanded
//! from the file's other variables (in any order; a cycle is an error),
//! then from the environment of the session; unquoted expansions split
//! into words joined by one space, as the shell's fields are. A name set
//! nowhere is an error ("unbound variable"). Command substitution is
//! refused: a file is data, not a script.

use std::collections::{HashMap, HashSet};

/// One parsed assignment: its words, unexpanded.
#[derive(Clone, Debug)]
struct Entry {
    words: Vec<Word>,
}

type Word = Vec<Part>;

#[derive(Clone, Debug)]
enum Part {
    /// Text, and whether quotes kept it from being split.
    Text(String, bool),
    Param {
        name: String,
        /// `${NAME:-word}` (true) or `${NAME-word}` (false).
        default: Option<(bool, Word)>,
        quoted: bool,
    },
}

/// `export NAME=…` is `NAME=…`.
pub(crate) fn strip_export(line: &str) -> &str {
    match line.strip_prefix("export") {
        Some(rest) if rest.starts_with([' ', '\t']) => rest.trim_start(),
        _ => line,
    }
}

fn is_simple_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn has_shell_features(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.iter().enumerate().any(|(i, b)| match b {
        b'`' | b'"' | b'\'' | b'\\' => true,
        b'$' => bytes
            .get(i + 1)
            .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, b'_' | b'{' | b'(')),
        _ => false,
    })
}

/// The raw `name → value` of lines (last one wins), as written.
pub(crate) fn raw(environ: &[String]) -> HashMap<String, String> {
    environ
        .iter()
        .map(|line| strip_export(line.trim()))
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

pub(crate) struct Evaluator<'e> {
    raw: HashMap<String, Entry>,
    expanded: HashMap<String, String>,
    expanding: HashSet<String>,
    system: &'e dyn Fn(&str) -> Option<String>,
}

impl<'e> Evaluator<'e> {
    pub(crate) fn new(
        environ: &[String],
        system: &'e dyn Fn(&str) -> Option<String>,
    ) -> Result<Evaluator<'e>, String> {
        let mut raw = HashMap::new();
        for line in environ {
            if let Some((name, entry)) = parse_line(line.trim())? {
                raw.insert(name, entry);
            }
        }
        Ok(Evaluator {
            raw,
            expanded: HashMap::new(),
            expanding: HashSet::new(),
            system,
        })
    }

    /// The expanded value of `name`, if the file sets it.
    pub(crate) fn lookup(&mut self, name: &str) -> Result<Option<String>, String> {
        if let Some(value) = self.expanded.get(name) {
            return Ok(Some(value.clone()));
        }
        let Some(entry) = self.raw.get(name).cloned() else {
            return Ok(None);
        };
        if !self.expanding.insert(name.to_owned()) {
            return Err(format!(
                "circular dependency detected: {name} refers to itself"
            ));
        }
        let mut words = Vec::new();
        for word in &entry.words {
            words.push(self.expand(word).map_err(|e| format!("{name}: {e}"))?);
        }
        self.expanding.remove(name);
        let value = words.join(" ");
        self.expanded.insert(name.to_owned(), value.clone());
        Ok(Some(value))
    }

    fn variable(&mut self, name: &str) -> Result<Option<String>, String> {
        if self.raw.contains_key(name) {
            return self.lookup(name);
        }
        if name == "IFS" {
            return Ok(Some(" \t\n".to_owned()));
        }
        Ok((self.system)(name))
    }

    /// A word's fields joined by one space.
    fn expand(&mut self, word: &Word) -> Result<String, String> {
        let mut fields: Vec<String> = Vec::new();
        let mut current: Option<String> = None;
        for part in word {
            let (text, quoted) = match part {
                Part::Text(text, quoted) => (text.clone(), *quoted),
                Part::Param {
                    name,
                    default,
                    quoted,
                } => {
                    // Dagger's lookup treats an empty value as unset.
                    let value = self.variable(name)?.filter(|v| !v.is_empty());
                    let text = match (value, default) {
                        (Some(value), _) => value,
                        (None, Some((_, word))) => {
                            let word = word.clone();
                            self.expand(&word)?
                        }
                        (None, None) => return Err(format!("{name}: unbound variable")),
                    };
                    (text, *quoted)
                }
            };
            if quoted {
                current.get_or_insert_with(String::new).push_str(&text);
                continue;
            }
            // Unquoted: whitespace separates fields.
            let mut rest = text.as_str();
            while !rest.is_empty() {
                match rest.find(char::is_whitespace) {
                    Some(0) => {
                        fields.extend(current.take());
                        rest = rest.trim_start();
                    }
                    Some(at) => {
                        current
                            .get_or_insert_with(String::new)
                            .push_str(&rest[..at]);
                        rest = &rest[at..];
                    }
                    None => {
                        current.get_or_insert_with(String::new).push_str(rest);
                        rest = "";
                    }
                }
            }
        }
        fields.extend(current);
        Ok(fields.join(" "))
    }
}

/// `NAME=words…` of one line, or nothing for a comment.
fn parse_line(line: &str) -> Result<Option<(String, Entry)>, String> {
    let line = strip_export(line);
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let Some((key, value)) = line.split_once('=') else {
        return Err(format!("parse error: {line:?}: not a bare assignment"));
    };
    if !is_simple_key(key) {
        return Err(format!("parse error: {line:?}: not a bare assignment"));
    }
    if !has_shell_features(value) {
        let literal = vec![Part::Text(value.to_owned(), true)];
        return Ok(Some((
            key.to_owned(),
            Entry {
                words: vec![literal],
            },
        )));
    }
    let words = parse_words(value).map_err(|e| format!("parse error: {line:?}: {e}"))?;
    Ok(Some((key.to_owned(), Entry { words })))
}

/// Shell words up to an unquoted `#` that starts a word.
fn parse_words(text: &str) -> Result<Vec<Word>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word: Word = Vec::new();
    let mut started = false;
    let mut i = 0;
    let push_text = |word: &mut Word, c: char, quoted: bool| match word.last_mut() {
        Some(Part::Text(text, q)) if *q == quoted => text.push(c),
        _ => word.push(Part::Text(c.to_string(), quoted)),
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
                i += 1;
            }
            '#' if !started => break,
            '\'' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|&c| c == '\'')
                    .ok_or("reached the end without closing quote '")?;
                let quoted: String = chars[i + 1..i + 1 + end].iter().collect();
                word.push(Part::Text(quoted, true));
                started = true;
                i += end + 2;
            }
            '"' => {
                i += 1;
                started = true;
                // An empty "" is still a word.
                word.push(Part::Text(String::new(), true));
                loop {
                    match chars.get(i) {
                        None => return Err("reached the end without closing quote \"".into()),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if matches!(chars.get(i + 1), Some('$' | '`' | '"' | '\\')) => {
                            push_text(&mut word, chars[i + 1], true);
                            i += 2;
                        }
                        Some('$') => i = parse_param(&chars, i, true, &mut word)?,
                        Some('`') => return Err("command substitution is not supported".into()),
                        Some(&c) => {
                            push_text(&mut word, c, true);
                            i += 1;
                        }
                    }
                }
            }
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    push_text(&mut word, next, true);
                }
                started = true;
                i += 2;
            }
            '$' => {
                started = true;
                i = parse_param(&chars, i, false, &mut word)?;
            }
            '`' => return Err("command substitution is not supported".into()),
            c => {
                push_text(&mut word, c, false);
                started = true;
                i += 1;
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

/// A `$…` at `i`; returns where parsing goes on.
fn parse_param(chars: &[char], i: usize, quoted: bool, word: &mut Word) -> Result<usize, String> {
    let name_at = |from: usize| {
        chars[from..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .count()
    };
    match chars.get(i + 1) {
        Some('(') => Err("command substitution is not supported".into()),
        Some('{') => {
            let len = name_at(i + 2);
            let name: String = chars[i + 2..i + 2 + len].iter().collect();
            let mut at = i + 2 + len;
            let close = chars[at..]
                .iter()
                .position(|&c| c == '}')
                .ok_or("reached the end without closing }")?;
            let inner: String = chars[at..at + close].iter().collect();
            let default = if inner.is_empty() {
                None
            } else if let Some(rest) = inner.strip_prefix(":-") {
                Some((true, parse_words(rest)?.into_iter().flatten().collect()))
            } else if let Some(rest) = inner.strip_prefix('-') {
                Some((false, parse_words(rest)?.into_iter().flatten().collect()))
            } else {
                return Err(format!(
                    "unsupported parameter expansion ${{{name}{inner}}}"
                ));
            };
            at += close + 1;
            word.push(Part::Param {
                name,
                default,
                quoted,
            });
            Ok(at)
        }
        _ => {
            let len = name_at(i + 1);
            if len == 0 {
                word.push(Part::Text("$".into(), quoted));
                return Ok(i + 1);
            }
            word.push(Part::Param {
                name: chars[i + 1..i + 1 + len].iter().collect(),
                default: None,
                quoted,
            });
            Ok(i + 1 + len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(lines: &[&str], name: &str) -> Result<Option<String>, String> {
        let environ: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let system = |name: &str| (name == "HOST_VAR").then(|| "from host".to_owned());
        Evaluator::new(&environ, &system)?.lookup(name)
    }

    #[test]
    fn plain_values_are_taken_as_written() {
        assert_eq!(eval(&["A=b c  d"], "A").unwrap().unwrap(), "b c  d");
        assert_eq!(eval(&["export A=x=y"], "A").unwrap().unwrap(), "x=y");
        assert_eq!(eval(&["A=$5 off"], "A").unwrap().unwrap(), "$5 off");
        assert_eq!(eval(&["A=1"], "B").unwrap(), None);
    }

    #[test]
    fn quotes_are_removed_and_names_expanded_in_any_order() {
        let lines = [
            "GREETING=\"hello ${NAME}\"",
            "NAME='the world'",
            "PATH_LIKE=$HOST_VAR/bin",
            "DEFAULTED=${MISSING:-fallback}",
            "SPLIT=$SPACED",
            "SPACED=\"a   b\"",
            "ESCAPED=\"\\$NAME\"",
        ];
        let get = |name| eval(&lines, name).unwrap().unwrap();
        assert_eq!(get("GREETING"), "hello the world");
        assert_eq!(get("NAME"), "the world");
        assert_eq!(get("PATH_LIKE"), "from host/bin");
        assert_eq!(get("DEFAULTED"), "fallback");
        assert_eq!(get("SPLIT"), "a b");
        assert_eq!(get("ESCAPED"), "$NAME");
    }

    #[test]
    fn unbound_names_cycles_and_commands_are_errors() {
        assert!(eval(&["A=$NOPE"], "A")
            .unwrap_err()
            .contains("NOPE: unbound variable"));
        assert!(eval(&["A=$B", "B=$A"], "A")
            .unwrap_err()
            .contains("circular"));
        assert!(eval(&["A=$(id)"], "A")
            .unwrap_err()
            .contains("command substitution"));
    }
}
