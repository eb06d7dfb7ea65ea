//! Include/exclude patterns, as Dagger's `include`/`exclude` arguments and
//! `.dockerignore` files spell them.
//!
//! Paths and patterns are relative to the copied directory and use `/`.
//! A pattern matches a path when it matches the path itself or one of its
//! parent directories, so `src` includes everything under `src`. Segments
//! support `*`, `?`, `[a-z]`/`[!a-z]` and `\` escapes; a `**` segment matches
//! any number of directories. In an exclude list, a later pattern wins over
//! an earlier one and a leading `!` re-includes what it matches.

use crate::Error;

/// One segment of a pattern.
#[derive(Clone, Debug)]
enum Segment {
    /// `**`: zero or more whole segments.
    AnyDepth,
    Glob(Vec<Token>),
}

#[derive(Clone, Debug)]
enum Token {
    Literal(char),
    AnyChar,
    AnySequence,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob over `/`-separated relative paths.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    segments: Vec<Segment>,
    /// The cleaned text, for cache keys and messages.
    text: String,
}

impl Pattern {
    pub(crate) fn new(raw: &str) -> Result<Pattern, &'static str> {
        let mut parts: Vec<&str> = Vec::new();
        for part in raw.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    // Lexical cleaning, as filepath.Clean does; a pattern
                    // cannot reach above the directory it filters.
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        let segments = parts
            .iter()
            .map(|part| {
                if *part == "**" {
                    Ok(Segment::AnyDepth)
                } else {
                    parse_segment(part).map(Segment::Glob)
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pattern {
            segments,
            text: parts.join("/"),
        })
    }

    /// Whether the pattern matches `path` itself.
    pub(crate) fn matches(&self, path: &[&str]) -> bool {
        match_from(&self.segments, path, false)
    }

    /// Whether the pattern matches `path` or one of its parents.
    fn matches_or_parent(&self, path: &[&str]) -> bool {
        if self.segments.is_empty() {
            return true;
        }
        (1..=path.len()).any(|n| self.matches(&path[..n]))
    }

    /// Whether the pattern could match `path` or something below it.
    pub(crate) fn may_match_below(&self, path: &[&str]) -> bool {
        match_from(&self.segments, path, true)
    }
}

fn match_from(segments: &[Segment], path: &[&str], prefix: bool) -> bool {
    match (segments.first(), path.first()) {
        (_, None) if prefix => true,
        (None, None) => true,
        (Some(_), None) => segments.iter().all(|s| matches!(s, Segment::AnyDepth)),
        (None, Some(_)) => false,
        (Some(Segment::AnyDepth), Some(_)) => {
            match_from(&segments[1..], path, prefix) || match_from(segments, &path[1..], prefix)
        }
        (Some(Segment::Glob(tokens)), Some(name)) => {
            let name: Vec<char> = name.chars().collect();
            match_tokens(tokens, &name) && match_from(&segments[1..], &path[1..], prefix)
        }
    }
}

fn match_tokens(tokens: &[Token], name: &[char]) -> bool {
    match tokens.first() {
        None => name.is_empty(),
        Some(Token::AnySequence) => {
            (0..=name.len()).any(|skip| match_tokens(&tokens[1..], &name[skip..]))
        }
        Some(token) => {
            let Some(&c) = name.first() else {
                return false;
            };
            let ok = match token {
                Token::Literal(l) => *l == c,
                Token::AnyChar => true,
                Token::Class { negated, ranges } => {
                    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
                }
                Token::AnySequence => unreachable!(),
            };
            ok && match_tokens(&tokens[1..], &name[1..])
        }
    }
}

fn parse_segment(text: &str) -> Result<Vec<Token>, &'static str> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => {
                while chars.peek() == Some(&'*') {
                    chars.next();
                }
                Token::AnySequence
            }
            '?' => Token::AnyChar,
            '\\' => Token::Literal(chars.next().ok_or("it ends with a lone \\")?),
            '[' => {
                let negated = matches!(chars.peek(), Some('!' | '^'));
                if negated {
                    chars.next();
                }
                let mut ranges = Vec::new();
                loop {
                    let c = match chars.next().ok_or("a [ is never closed")? {
                        ']' if !ranges.is_empty() => break,
                        ']' => return Err("a character class is empty"),
                        '\\' => chars.next().ok_or("it ends with a lone \\")?,
                        c => c,
                    };
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        let hi = match chars.next().ok_or("a [ is never closed")? {
                            ']' => return Err("a range in [..] has no end"),
                            '\\' => chars.next().ok_or("it ends with a lone \\")?,
                            hi => hi,
                        };
                        if hi < c {
                            return Err("a range in [..] is backwards");
                        }
                        ranges.push((c, hi));
                    } else {
                        ranges.push((c, c));
                    }
                }
                Token::Class { negated, ranges }
            }
            c => Token::Literal(c),
        });
    }
    Ok(tokens)
}

#[derive(Clone, Debug)]
struct Rule {
    negated: bool,
    pattern: Pattern,
}

/// Which paths of a directory an operation takes.
#[derive(Clone, Debug)]
pub struct Filter {
    include: Vec<Pattern>,
    exclude: Vec<Rule>,
}

impl Filter {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Filter, Error> {
        let invalid = |list, pattern: &str, reason| Error::InvalidPattern {
            list,
            pattern: pattern.to_owned(),
            reason,
        };
        let include = include
            .iter()
            .map(|raw| {
                if raw.starts_with('!') {
                    return Err(invalid(
                        "include",
                        raw,
                        "! only has a meaning in exclude lists",
                    ));
                }
                Pattern::new(raw).map_err(|reason| invalid("include", raw, reason))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let exclude = exclude
            .iter()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| {
                let (negated, text) = match raw.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, raw.as_str()),
                };
                let pattern =
                    Pattern::new(text).map_err(|reason| invalid("exclude", raw, reason))?;
                Ok(Rule { negated, pattern })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter { include, exclude })
    }

    pub fn everything() -> Filter {
        Filter {
            include: Vec::new(),
            exclude: Vec::new(),
        }
    }

    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    fn excluded(&self, path: &[&str]) -> bool {
        let mut excluded = false;
        for rule in &self.exclude {
            if rule.negated != excluded {
                // This rule could not change the outcome.
                continue;
            }
            if rule.pattern.matches_or_parent(path) {
                excluded = !rule.negated;
            }
        }
        excluded
    }

    /// Whether the entry at `rel` (a file, or a directory itself) is taken.
    pub fn includes_file(&self, rel: &str) -> bool {
        let path = split(rel);
        if path.is_empty() {
            return true;
        }
        (self.include.is_empty() || self.include.iter().any(|p| p.matches_or_parent(&path)))
            && !self.excluded(&path)
    }

    /// Whether anything below the directory `rel_dir` can be taken.
    pub fn may_descend(&self, rel_dir: &str) -> bool {
        let path = split(rel_dir);
        if path.is_empty() {
            return true;
        }
        let included = self.include.is_empty()
            || self
                .include
                .iter()
                .any(|p| p.matches_or_parent(&path) || p.may_match_below(&path));
        if !included {
            return false;
        }
        if !self.excluded(&path) {
            return true;
        }
        // Excluded, unless a later `!pattern` can re-include something below.
        self.exclude
            .iter()
            .any(|rule| rule.negated && rule.pattern.may_match_below(&path))
    }

    /// A stable text for cache keys: equal for filters that select alike
    /// because they were written alike (modulo `./`, `//`, trailing `/`).
    pub fn canonical(&self) -> String {
        let include: Vec<&str> = self.include.iter().map(|p| p.text.as_str()).collect();
        let exclude: Vec<String> = self
            .exclude
            .iter()
            .map(|r| format!("{}{}", if r.negated { "!" } else { "" }, r.pattern.text))
            .collect();
        format!("filter.v1 include={include:?} exclude={exclude:?}")
    }
}

pub(crate) fn split(rel: &str) -> Vec<&str> {
    rel.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> Filter {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        Filter::new(&owned(include), &owned(exclude)).unwrap()
    }

    #[test]
    fn segments_and_classes() {
        let p = Pattern::new("src/*.[ch]").unwrap();
        assert!(p.matches(&["src", "main.c"]));
        assert!(p.matches(&["src", "x.h"]));
        assert!(!p.matches(&["src", "x.o"]));
        assert!(!p.matches(&["src", "sub", "x.c"]));
        let p = Pattern::new("a?c/[!x]").unwrap();
        assert!(p.matches(&["abc", "y"]));
        assert!(!p.matches(&["abc", "x"]));
        assert!(Pattern::new(r"\*").unwrap().matches(&["*"]));
        assert!(!Pattern::new(r"\*").unwrap().matches(&["a"]));
    }

    #[test]
    fn double_star_matches_any_depth() {
        let p = Pattern::new("**/*.c").unwrap();
        assert!(p.matches(&["a.c"]));
        assert!(p.matches(&["x", "y", "a.c"]));
        assert!(!p.matches(&["x", "a.h"]));
        let p = Pattern::new("a/**/z").unwrap();
        assert!(p.matches(&["a", "z"]));
        assert!(p.matches(&["a", "b", "c", "z"]));
        assert!(!p.matches(&["b", "z"]));
        assert!(p.may_match_below(&["a", "b"]));
        assert!(!p.may_match_below(&["b"]));
    }

    #[test]
    fn invalid_patterns_are_named() {
        let err = Filter::new(&[], &["src/[a-".to_string()]).unwrap_err();
        assert!(err.to_string().contains("src/[a-"), "{err}");
        assert!(Filter::new(&["x\\".to_string()], &[]).is_err());
        assert!(Filter::new(&["[]".to_string()], &[]).is_err());
        assert!(Filter::new(&["!a".to_string()], &[]).is_err());
    }

    #[test]
    fn include_takes_directories_whole() {
        let f = filter(&["src/", "./README.md"], &[]);
        assert!(f.includes_file("src/a/b.rs"));
        assert!(f.includes_file("README.md"));
        assert!(!f.includes_file("target/x"));
        assert!(f.may_descend("src"));
        assert!(f.may_descend("src/a"));
        assert!(!f.may_descend("target"));
    }

    #[test]
    fn include_patterns_prune_descent() {
        let f = filter(&["**/*.c"], &[]);
        assert!(f.may_descend("any/where"));
        let f = filter(&["lib/*/x.c"], &[]);
        assert!(f.may_descend("lib"));
        assert!(f.may_descend("lib/foo"));
        assert!(!f.may_descend("bin"));
        assert!(f.includes_file("lib/foo/x.c"));
        assert!(!f.includes_file("lib/foo/y.c"));
    }

    #[test]
    fn exclude_with_reinclude() {
        let f = filter(&[], &["*.log", "!keep.log", "build"]);
        assert!(!f.includes_file("a.log"));
        assert!(f.includes_file("keep.log"));
        assert!(
            f.includes_file("src/a.log"),
            "*.log is anchored at the root"
        );
        assert!(!f.includes_file("build/out/bin"));
        assert!(!f.may_descend("build"));
        assert!(f.may_descend("src"));

        let f = filter(&[], &["docs", "!docs/keep.md"]);
        assert!(f.may_descend("docs"), "a negation may re-include below");
        assert!(f.includes_file("docs/keep.md"));
        assert!(!f.includes_file("docs/other.md"));
        // Order matters: a later exclude wins again.
        let f = filter(&[], &["!a", "a"]);
        assert!(!f.includes_file("a"));
    }

    #[test]
    fn canonical_is_stable() {
        assert_eq!(
            filter(&["./src/"], &["a//b"]).canonical(),
            filter(&["src"], &["a/b"]).canonical()
        );
        assert_ne!(
            filter(&["src"], &[]).canonical(),
            filter(&[], &["src"]).canonical()
        );
        assert!(Filter::everything().is_everything());
        assert!(!filter(&["a"], &[]).is_everything());
        assert_eq!(
            Filter::everything().canonical(),
            filter(&[], &[]).canonical()
        );
    }
}
