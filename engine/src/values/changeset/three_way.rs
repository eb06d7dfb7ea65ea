//! A three-way merge of one text file, line by line, as `git merge` makes
//! it: the changes each side made to the common base, taken together where
//! they touch different lines (or make the same change), and a conflict
//! where both changed the same lines differently.

use similar::{capture_diff_slices, Algorithm, DiffOp};

/// How a conflict is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Settle {
    /// Not at all: a conflict is an error.
    Refuse,
    /// Git's markers around both sides (`<<<<<<< HEAD`, `=======`,
    /// `>>>>>>> theirs`), as Dagger's merge leaves them.
    Markers,
    /// Ours (`-X ours`).
    Ours,
    /// Theirs (`-X theirs`).
    Theirs,
}

/// What a merge came to.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Merged {
    Clean(String),
    /// Conflicts settled as asked (markers or one side).
    Settled(String),
    /// Conflicts and [`Settle::Refuse`]: the first conflicting line of
    /// the base (1-based).
    Conflict {
        line: usize,
    },
}

/// One side's change to the base: `base[start..end]` became `lines`.
#[derive(Debug)]
struct Edit<'t> {
    start: usize,
    end: usize,
    lines: Vec<&'t str>,
}

pub(super) fn merge(base: &str, ours: &str, theirs: &str, settle: Settle) -> Merged {
    let base_lines = split(base);
    let ours_lines = split(ours);
    let theirs_lines = split(theirs);
    let mut ours_edits = edits(&base_lines, &ours_lines).into_iter().peekable();
    let mut theirs_edits = edits(&base_lines, &theirs_lines).into_iter().peekable();
    let mut out: Vec<&str> = Vec::new();
    let mut at = 0;
    let mut conflicted = false;
    loop {
        let next_start = match (ours_edits.peek(), theirs_edits.peek()) {
            (None, None) => break,
            (Some(o), None) => o.start,
            (None, Some(t)) => t.start,
            (Some(o), Some(t)) => o.start.min(t.start),
        };
        out.extend_from_slice(&base_lines[at..next_start]);
        // A region: every edit of either side that overlaps or touches the
        // region so far (git calls changes to adjacent lines a conflict).
        let (mut region_ours, mut region_theirs) = (Vec::new(), Vec::new());
        let mut end = next_start;
        loop {
            let overlaps = |edit: &Edit<'_>| edit.start <= end;
            if let Some(edit) = ours_edits.next_if(|e| overlaps(e)) {
                end = end.max(edit.end);
                region_ours.push(edit);
            } else if let Some(edit) = theirs_edits.next_if(|e| overlaps(e)) {
                end = end.max(edit.end);
                region_theirs.push(edit);
            } else {
                break;
            }
        }
        let ours_text = apply(&base_lines, next_start, end, &region_ours);
        let theirs_text = apply(&base_lines, next_start, end, &region_theirs);
        if region_theirs.is_empty() || ours_text == theirs_text {
            out.extend(ours_text);
        } else if region_ours.is_empty() {
            out.extend(theirs_text);
        } else {
            conflicted = true;
            match settle {
                Settle::Refuse => {
                    return Merged::Conflict {
                        line: next_start + 1,
                    }
                }
                Settle::Ours => out.extend(ours_text),
                Settle::Theirs => out.extend(theirs_text),
                Settle::Markers => {
                    out.push("<<<<<<< HEAD\n");
                    out.extend(ending_lines(ours_text));
                    out.push("=======\n");
                    out.extend(ending_lines(theirs_text));
                    out.push(">>>>>>> theirs\n");
                }
            }
        }
        at = end;
    }
    out.extend_from_slice(&base_lines[at..]);
    let text = out.concat();
    match conflicted {
        true => Merged::Settled(text),
        false => Merged::Clean(text),
    }
}

/// Lines with their endings, so the merge keeps a missing last newline.
fn split(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// A side's edits to the base, in order.
fn edits<'t>(base: &[&'t str], side: &[&'t str]) -> Vec<Edit<'t>> {
    capture_diff_slices(Algorithm::Myers, base, side)
        .into_iter()
        .filter_map(|op| match op {
            DiffOp::Equal { .. } => None,
            DiffOp::Delete {
                old_index, old_len, ..
            } => Some(Edit {
                start: old_index,
                end: old_index + old_len,
                lines: Vec::new(),
            }),
            DiffOp::Insert {
                old_index,
                new_index,
                new_len,
            } => Some(Edit {
                start: old_index,
                end: old_index,
                lines: side[new_index..new_index + new_len].to_vec(),
            }),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => Some(Edit {
                start: old_index,
                end: old_index + old_len,
                lines: side[new_index..new_index + new_len].to_vec(),
            }),
        })
        .collect()
}

/// `base[start..end]` with a side's edits inside it applied.
fn apply<'t>(base: &[&'t str], start: usize, end: usize, edits: &[Edit<'t>]) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut at = start;
    for edit in edits {
        out.extend_from_slice(&base[at..edit.start]);
        out.extend(edit.lines.iter().copied());
        at = edit.end;
    }
    out.extend_from_slice(&base[at..end]);
    out
}

/// The lines of one side between markers: a last line without its newline
/// gets one, so the marker after it starts a line.
fn ending_lines(mut lines: Vec<&str>) -> impl Iterator<Item = &str> {
    let needs_newline = lines.last().is_some_and(|l| !l.ends_with('\n'));
    let last = needs_newline.then(|| lines.pop()).flatten();
    lines
        .into_iter()
        .chain(last)
        .chain(needs_newline.then_some("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "one\ntwo\nthree\nfour\nfive\n";

    #[test]
    fn changes_to_different_lines_are_both_taken() {
        let ours = "ONE\ntwo\nthree\nfour\nfive\n";
        let theirs = "one\ntwo\nthree\nfour\nFIVE\nsix\n";
        assert_eq!(
            merge(BASE, ours, theirs, Settle::Refuse),
            Merged::Clean("ONE\ntwo\nthree\nfour\nFIVE\nsix\n".into())
        );
        // The same change on both sides is no conflict.
        assert_eq!(
            merge(BASE, ours, ours, Settle::Refuse),
            Merged::Clean(ours.into())
        );
    }

    #[test]
    fn changes_to_adjacent_lines_conflict_as_in_git() {
        let ours = "one\n2\nthree\nfour\nfive\n";
        let theirs = "one\ntwo\n3\nfour\nfive\n";
        assert_eq!(
            merge(BASE, ours, theirs, Settle::Refuse),
            Merged::Conflict { line: 2 }
        );
    }

    #[test]
    fn the_same_lines_changed_differently_conflict() {
        let ours = "one\n2\nthree\nfour\nfive\n";
        let theirs = "one\nTWO\nthree\nfour\nfive\n";
        assert_eq!(
            merge(BASE, ours, theirs, Settle::Refuse),
            Merged::Conflict { line: 2 }
        );
        assert_eq!(
            merge(BASE, ours, theirs, Settle::Markers),
            Merged::Settled(
                "one\n<<<<<<< HEAD\n2\n=======\nTWO\n>>>>>>> theirs\nthree\nfour\nfive\n".into()
            )
        );
        assert_eq!(
            merge(BASE, ours, theirs, Settle::Ours),
            Merged::Settled(ours.into())
        );
        assert_eq!(
            merge(BASE, ours, theirs, Settle::Theirs),
            Merged::Settled(theirs.into())
        );
    }

    #[test]
    fn a_file_added_on_both_sides_merges_from_nothing() {
        assert_eq!(
            merge("", "a\n", "a\n", Settle::Refuse),
            Merged::Clean("a\n".into())
        );
        assert_eq!(
            merge("", "a", "b", Settle::Markers),
            Merged::Settled("<<<<<<< HEAD\na\n=======\nb\n>>>>>>> theirs\n".into())
        );
    }
}
