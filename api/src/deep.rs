//! Parsing documents nested deeper than async-graphql's parser allows.
//!
//! The SDKs send a whole chain as one nested query, one selection set per
//! call, and real pipelines chain hundreds of calls; async-graphql's parser
//! refuses anything nested more than 64 deep (a constant). So a deep
//! document is cut into pieces of at most [`PIECE_DEPTH`] levels: each
//! selection set at that depth is replaced by a marker field, parsed on its
//! own (recursively), and grafted back into the tree where its marker was.
//! Every piece is a verbatim slice of the document, placed at its original
//! line and column, so error positions stay right.
//!
//! Depth is measured first by a flat scan (no recursion, no allocation), so
//! a hostile 10,000-deep document is refused in microseconds, before any
//! parser sees it.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Positioned, ServerError};

/// How many selection sets deep a document may nest: about as many calls in
/// one chain. Each level is resolved by a nested future and answered as a
/// nested JSON object, so the stack bounds it: see
/// [`crate::THREAD_STACK_BYTES`]. Far beyond real pipelines.
pub const MAX_DEPTH: usize = 500;

/// Levels per piece: below the parser's limit of 64.
const PIECE_DEPTH: usize = 48;

const MARKER: &str = "_tantoGraft";

/// Parses `query`, however deep (up to [`MAX_DEPTH`]).
pub(crate) fn parse(query: &str) -> Result<ExecutableDocument, ServerError> {
    let depth = depth(query, MAX_DEPTH + 1);
    if depth > MAX_DEPTH {
        return Err(ServerError::new(
            format!(
                "the query nests more than {MAX_DEPTH} selection sets deep (a chain of more than {MAX_DEPTH} calls): \
                 tanto refuses it; split the pipeline, e.g. `sync` part of the chain and continue from its ID"
            ),
            None,
        ));
    }
    parse_piece(query, 0)
}

/// The deepest selection-set nesting of `query`, counting no further than
/// `stop`.
fn depth(query: &str, stop: usize) -> usize {
    let mut max = 0;
    for brace in Braces::new(query) {
        if let Brace::Open { depth, .. } = brace {
            max = max.max(depth);
            if max >= stop {
                break;
            }
        }
    }
    max
}

/// Parses `text[start..]` where the interesting part starts: pieces are
/// padded with `start`'s line and column so positions match the document.
fn parse_piece(document: &str, start: usize) -> Result<ExecutableDocument, ServerError> {
    let text = &document[start..];
    let mut cuts = Vec::new();
    let mut open_at = None;
    for brace in Braces::new(text) {
        match brace {
            Brace::Open { at, depth } if depth == PIECE_DEPTH => open_at = Some(at),
            Brace::Close { at, depth } if depth == PIECE_DEPTH => {
                if let Some(open) = open_at.take() {
                    cuts.push((start + open, start + at));
                }
            }
            _ => {}
        }
    }
    if cuts.is_empty() {
        return async_graphql::parser::parse_query(padded(document, start, document.len()))
            .map_err(ServerError::from);
    }
    // The outer piece: each cut set's inside becomes one marker field.
    let mut outer = padding(document, start);
    let mut from = start;
    for (i, (open, close)) in cuts.iter().enumerate() {
        outer.push_str(&document[from..=*open]);
        outer.push_str(&format!(" {MARKER}{i} "));
        from = *close;
    }
    outer.push_str(&document[from..]);
    let mut doc = async_graphql::parser::parse_query(&outer).map_err(ServerError::from)?;
    drop(outer);
    let mut inner = Vec::with_capacity(cuts.len());
    for (open, close) in &cuts {
        inner.push(Some(parse_set(&document[..=*close], *open)?));
    }
    for_each_set(&mut doc, &mut |set| graft(set, &mut inner));
    Ok(doc)
}

/// Parses the selection set opening at `open` (and ending at the end of
/// `document`).
fn parse_set(document: &str, open: usize) -> Result<Positioned<SelectionSet>, ServerError> {
    let doc = parse_piece(document, open)?;
    match doc.operations {
        DocumentOperations::Single(operation) => Ok(operation.node.selection_set),
        DocumentOperations::Multiple(_) => unreachable!("a selection set parses as one query"),
    }
}

/// `document[start..end]` with newlines and spaces in front, so the parser
/// reports the positions it has in `document`.
fn padded(document: &str, start: usize, end: usize) -> String {
    let mut text = padding(document, start);
    text.push_str(&document[start..end]);
    text
}

fn padding(document: &str, start: usize) -> String {
    let before = &document[..start];
    let lines = before.matches('\n').count();
    let column = before[before.rfind('\n').map_or(0, |n| n + 1)..]
        .chars()
        .count();
    let mut text = String::with_capacity(lines + column);
    text.push_str(&"\n".repeat(lines));
    text.push_str(&" ".repeat(column));
    text
}

/// Replaces a set holding only the marker `i` by the `i`th piece; whether
/// it did.
fn graft(
    set: &mut Positioned<SelectionSet>,
    pieces: &mut [Option<Positioned<SelectionSet>>],
) -> bool {
    let [item] = set.node.items.as_slice() else {
        return false;
    };
    let Selection::Field(field) = &item.node else {
        return false;
    };
    let Some(index) = field
        .node
        .name
        .node
        .strip_prefix(MARKER)
        .and_then(|i| i.parse::<usize>().ok())
    else {
        return false;
    };
    match pieces.get_mut(index).and_then(Option::take) {
        Some(piece) => {
            *set = piece;
            true
        }
        None => false,
    }
}

/// Calls `f` on every selection set of the operations and fragments, each
/// before descending into it, and not into those where `f` says it grafted
/// a piece: the walk stays within this piece, at most [`PIECE_DEPTH`] deep.
fn for_each_set(
    doc: &mut ExecutableDocument,
    f: &mut impl FnMut(&mut Positioned<SelectionSet>) -> bool,
) {
    fn walk(
        set: &mut Positioned<SelectionSet>,
        f: &mut impl FnMut(&mut Positioned<SelectionSet>) -> bool,
    ) {
        if f(set) {
            return;
        }
        for item in &mut set.node.items {
            match &mut item.node {
                Selection::Field(field) => walk(&mut field.node.selection_set, f),
                Selection::InlineFragment(fragment) => walk(&mut fragment.node.selection_set, f),
                Selection::FragmentSpread(_) => {}
            }
        }
    }
    match &mut doc.operations {
        DocumentOperations::Single(operation) => walk(&mut operation.node.selection_set, f),
        DocumentOperations::Multiple(operations) => {
            for operation in operations.values_mut() {
                walk(&mut operation.node.selection_set, f);
            }
        }
    }
    for fragment in doc.fragments.values_mut() {
        walk(&mut fragment.node.selection_set, f);
    }
}

#[derive(Debug, PartialEq)]
enum Brace {
    /// A selection set opens at byte `at`, `depth` deep (1 at the top).
    Open {
        at: usize,
        depth: usize,
    },
    Close {
        at: usize,
        depth: usize,
    },
}

/// The selection-set braces of a GraphQL document, skipping strings, block
/// strings, comments and braces of argument values (inside parentheses).
struct Braces<'t> {
    text: &'t [u8],
    at: usize,
    parens: usize,
    depth: usize,
}

impl<'t> Braces<'t> {
    fn new(text: &'t str) -> Braces<'t> {
        Braces {
            text: text.as_bytes(),
            at: 0,
            parens: 0,
            depth: 0,
        }
    }

    fn skip_string(&mut self) {
        if self.text[self.at..].starts_with(b"\"\"\"") {
            self.at += 3;
            while self.at < self.text.len() {
                if self.text[self.at..].starts_with(b"\\\"\"\"") {
                    self.at += 4;
                } else if self.text[self.at..].starts_with(b"\"\"\"") {
                    self.at += 3;
                    return;
                } else {
                    self.at += 1;
                }
            }
            return;
        }
        self.at += 1;
        while let Some(&c) = self.text.get(self.at) {
            self.at += 1;
            match c {
                b'\\' => self.at += 1,
                b'"' | b'\n' | b'\r' => return,
                _ => {}
            }
        }
    }
}

impl Iterator for Braces<'_> {
    type Item = Brace;

    fn next(&mut self) -> Option<Brace> {
        while let Some(&c) = self.text.get(self.at) {
            match c {
                b'"' => {
                    self.skip_string();
                    continue;
                }
                b'#' => {
                    while self
                        .text
                        .get(self.at)
                        .is_some_and(|c| *c != b'\n' && *c != b'\r')
                    {
                        self.at += 1;
                    }
                    continue;
                }
                b'(' => self.parens += 1,
                b')' => self.parens = self.parens.saturating_sub(1),
                b'{' if self.parens == 0 => {
                    self.depth += 1;
                    self.at += 1;
                    return Some(Brace::Open {
                        at: self.at - 1,
                        depth: self.depth,
                    });
                }
                b'}' if self.parens == 0 => {
                    let depth = self.depth;
                    self.depth = self.depth.saturating_sub(1);
                    self.at += 1;
                    return Some(Brace::Close {
                        at: self.at - 1,
                        depth,
                    });
                }
                _ => {}
            }
            self.at += 1;
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `{ container { withEnvVariable { … { id } } } }`, `depth` sets deep,
    /// each value holding braces that are not selection sets.
    pub(crate) fn chain(depth: usize) -> String {
        let mut q = String::from("{ container ");
        for i in 1..depth - 1 {
            q.push_str(&format!(
                "{{ withEnvVariable(name: \"V{i}\", value: \"{{\\\"}}\") "
            ));
        }
        q.push_str("{ id }");
        q.push_str(&"}".repeat(depth - 1));
        q
    }

    #[test]
    fn braces_in_strings_comments_and_arguments_are_not_selection_sets() {
        let q = "query Q($v: In = {a: 1}) { a(s: \"{\", t: \"\"\"}\\\"\"\"{\"\"\", o: {x: {}}) # {\n { b } }";
        assert_eq!(depth(q, usize::MAX), 2);
    }

    #[test]
    fn deep_documents_parse_into_the_same_tree_as_shallow_ones() {
        // Below the parser's limit both ways agree exactly.
        let q = chain(60);
        let whole = async_graphql::parser::parse_query(&q).unwrap();
        let pieces = parse(&q).unwrap();
        assert_eq!(format!("{whole:?}"), format!("{pieces:?}"));
    }

    #[test]
    fn chains_up_to_the_limit_parse_and_deeper_ones_are_refused_quickly() {
        let doc = parse(&chain(MAX_DEPTH)).unwrap();
        let DocumentOperations::Single(op) = &doc.operations else {
            panic!("one operation")
        };
        let mut set = &op.node.selection_set;
        let mut levels = 0;
        while let Some(item) = set.node.items.first() {
            levels += 1;
            let Selection::Field(field) = &item.node else {
                panic!("fields only")
            };
            set = &field.node.selection_set;
        }
        assert_eq!(levels, MAX_DEPTH);

        let hostile = format!("{}{}", "{ a ".repeat(10_000), "}".repeat(10_000));
        let error = parse(&hostile).unwrap_err();
        assert!(error.message.contains("more than 500"), "{}", error.message);
    }

    #[test]
    fn errors_deep_inside_keep_their_positions() {
        let mut q = chain(100);
        let at = q.rfind("{ id }").unwrap();
        q.replace_range(at..at + 6, "{ id ( }");
        let q = q.replacen(' ', "\n  ", 1);
        let error = parse(&q).unwrap_err();
        assert_eq!(error.locations[0].line, 2, "{}", error.message);
        // 1-based, in characters; the bad part is `( }`, 2 further along.
        let column = error.locations[0].column;
        assert!(
            (at + 2..=at + 10).contains(&column),
            "{column} {at}: {}",
            error.message
        );
    }
}
