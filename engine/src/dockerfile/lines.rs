//! A Dockerfile's text as BuildKit's frontend reads it, before any
//! instruction is understood: the parser directives at the top (`escape`,
//! `syntax`, `check`), comments dropped, lines continued by the escape
//! character joined, and the bodies of heredocs (`RUN <<EOF`) taken out of
//! the lines that follow their instruction.

use crate::error::Error;

/// The directives a Dockerfile opens with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directives {
    /// `\` unless `# escape=` says `` ` ``.
    pub escape: char,
    /// `# syntax=`: noted, not followed (tanto is the frontend).
    pub syntax: Option<String>,
}

/// One instruction's text, continuations joined, with where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Logical {
    /// 1-based, the instruction's first line.
    pub line: usize,
    pub text: String,
    pub heredocs: Vec<Heredoc>,
}

/// A here-document: `<<EOF` (expanded), `<<"EOF"` (taken as written),
/// `<<-EOF` (leading tabs removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Variables in the content are expanded (the delimiter was unquoted).
    pub expand: bool,
}

pub(super) fn split(file: &str, text: &str) -> Result<(Directives, Vec<Logical>), Error> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (directives, first) = directives(file, &lines)?;
    let escape = directives.escape;
    let mut logical = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let line = lines[i];
        if is_blank_or_comment(line) {
            i += 1;
            continue;
        }
        let start = i;
        let mut joined = String::new();
        loop {
            let line = lines[i];
            i += 1;
            match continued(line, escape) {
                Some(head) => {
                    joined.push_str(head);
                    // Comments and blank lines inside a continued
                    // instruction are skipped, as BuildKit does.
                    while i < lines.len() && is_blank_or_comment(lines[i]) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                }
                None => {
                    joined.push_str(line);
                    break;
                }
            }
        }
        let text = joined.trim().to_owned();
        let mut heredocs = Vec::new();
        if takes_heredocs(&text) {
            for (name, strip_tabs, expand) in heredoc_markers(&text) {
                let mut content = String::new();
                loop {
                    let Some(line) = lines.get(i) else {
                        return Err(Error::Dockerfile {
                            file: file.to_owned(),
                            line: start + 1,
                            instruction: first_word(&text),
                            reason: format!(
                                "the here-document <<{name} is never closed: no line \"{name}\" follows"
                            ),
                        });
                    };
                    i += 1;
                    let body = if strip_tabs {
                        line.trim_start_matches('\t')
                    } else {
                        line
                    };
                    if body == name {
                        break;
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        logical.push(Logical {
            line: start + 1,
            text,
            heredocs,
        });
    }
    Ok((directives, logical))
}

/// The directives, and the index of the first line after them.
fn directives(file: &str, lines: &[&str]) -> Result<(Directives, usize), Error> {
    let mut directives = Directives {
        escape: '\\',
        syntax: None,
    };
    let mut seen = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else {
            return Ok((directives, index));
        };
        let bad = |reason: String| Error::Dockerfile {
            file: file.to_owned(),
            line: index + 1,
            instruction: format!("# {key}"),
            reason,
        };
        if seen.contains(&key) {
            return Err(bad(format!("the {key} directive is given twice")));
        }
        match key.as_str() {
            "escape" => {
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => return Err(bad(format!("escape must be \\ or `, not {other:?}"))),
                }
            }
            "syntax" => directives.syntax = Some(value),
            "check" => {}
            // An unknown directive is a comment, and ends the directives.
            _ => return Ok((directives, index)),
        }
        seen.push(key);
    }
    Ok((directives, lines.len()))
}

/// `# key=value` with a key of letters and digits.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_owned()))
}

fn is_blank_or_comment(line: &str) -> bool {
    let trimmed = line.trim_start();
    trimmed.is_empty() || trimmed.starts_with('#')
}

/// The line without its continuation (the escape character, maybe
/// followed by blanks, at its end), if it has one.
fn continued(line: &str, escape: char) -> Option<&str> {
    // As BuildKit: any escape character at the end continues the line,
    // whatever precedes it.
    line.trim_end_matches([' ', '\t']).strip_suffix(escape)
}

fn first_word(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

fn takes_heredocs(text: &str) -> bool {
    matches!(first_word(text).as_str(), "RUN" | "COPY" | "ADD")
}

/// The `<<NAME` markers of an instruction, in order, outside quotes:
/// (name, strip leading tabs, expand).
fn heredoc_markers(text: &str) -> Vec<(String, bool, bool)> {
    let mut markers = Vec::new();
    let mut quote: Option<char> = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '<'
                && chars.get(i + 1) == Some(&'<')
                && chars.get(i + 2) != Some(&'<') =>
            {
                let mut j = i + 2;
                let strip_tabs = chars.get(j) == Some(&'-');
                if strip_tabs {
                    j += 1;
                }
                let quoted = chars.get(j).copied().filter(|c| *c == '"' || *c == '\'');
                if quoted.is_some() {
                    j += 1;
                }
                let start = j;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[start..j].iter().collect();
                if let Some(q) = quoted {
                    if chars.get(j) != Some(&q) {
                        i += 1;
                        continue;
                    }
                    j += 1;
                }
                if !name.is_empty() && !name.starts_with(|c: char| c.is_ascii_digit()) {
                    markers.push((name, strip_tabs, quoted.is_none()));
                    i = j;
                    continue;
                }
            }
            None => {}
        }
        i += 1;
    }
    markers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(dockerfile: &str) -> Vec<(usize, String)> {
        split("Dockerfile", dockerfile)
            .unwrap()
            .1
            .into_iter()
            .map(|l| (l.line, l.text))
            .collect()
    }

    #[test]
    fn continuations_join_and_comments_go() {
        let lines = texts(
            "# a comment\nFROM debian AS build\n\nRUN apt-get update && \\\n    # skipped\n\n    apt-get install -y make \\  \n    curl\n  # indented comment\nCMD [\"make\"]\n",
        );
        assert_eq!(
            lines,
            [
                (2, "FROM debian AS build".into()),
                (
                    4,
                    "RUN apt-get update &&     apt-get install -y make     curl".into()
                ),
                (10, "CMD [\"make\"]".into()),
            ]
        );
    }

    #[test]
    fn directives_come_first_and_only_first() {
        let (directives, lines) = split(
            "Dockerfile",
            "# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN a `\n  b\n# escape=\\\n",
        )
        .unwrap();
        assert_eq!(directives.escape, '`');
        assert_eq!(directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(lines[1].text, "RUN a   b");
        // After a blank line, a directive is a comment.
        let (directives, _) = split("Dockerfile", "\n# escape=`\nFROM x\n").unwrap();
        assert_eq!(directives.escape, '\\');
        let twice = split("Dockerfile", "# escape=`\n# escape=`\nFROM x\n").unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
        let bad = split("Dockerfile", "# escape=x\nFROM x\n").unwrap_err();
        assert!(bad.to_string().contains("escape"), "{bad}");
    }

    #[test]
    fn heredocs_take_the_lines_that_follow() {
        let (_, lines) = split(
            "Dockerfile",
            "FROM x\nRUN <<EOF bash && cat <<-'END'\necho $HOME\nEOF\n\tliteral $x\n\tEND\nCOPY <<conf /etc/app.conf\nkey=1\nconf\nRUN echo \"<<notadoc\"\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[1].heredocs,
            [
                Heredoc {
                    name: "EOF".into(),
                    content: "echo $HOME\n".into(),
                    expand: true
                },
                Heredoc {
                    name: "END".into(),
                    content: "literal $x\n".into(),
                    expand: false
                },
            ]
        );
        assert_eq!(lines[2].heredocs[0].content, "key=1\n");
        assert_eq!(lines[2].line, 7);
        assert!(lines[3].heredocs.is_empty());
        let open = split("Dockerfile", "FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert!(
            open.to_string().contains("never closed") && open.to_string().contains("line 2"),
            "{open}"
        );
    }
}
