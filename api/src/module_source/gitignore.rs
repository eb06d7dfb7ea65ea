//! `.gitignore` files as exclude patterns over the context directory, so
//! what git ignores (`/.venv`, `/sdk`, `node_modules`) is not uploaded.
//!
//! An approximation of git's rules in the filter's glob language: a
//! pattern with no slash but a trailing one matches at any depth below its
//! file's directory, a leading `/` anchors it there, and `!` re-includes. A
//! trailing `/` (directories only) is dropped, so such a pattern also
//! matches a file of that name.

use std::path::Path;

/// Exclude patterns from every `.gitignore` under `context` (not below
/// `.git`, nor below what an earlier `.gitignore` already ignores… which
/// would take a full walk: only the top two levels are read, where
/// modules keep them).
pub fn patterns(context: &Path) -> Vec<String> {
    let mut out = Vec::new();
    read(context, "", &mut out);
    if let Ok(entries) = std::fs::read_dir(context) {
        let mut dirs: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name != ".git")
            .collect();
        dirs.sort();
        for dir in dirs {
            read(&context.join(&dir), &dir, &mut out);
        }
    }
    out
}

fn read(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(text) = std::fs::read_to_string(dir.join(".gitignore")) else {
        return;
    };
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (negated, line) = match line.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        let line = line.trim_end_matches('/');
        if line.is_empty() {
            continue;
        }
        let anchored = line.starts_with('/') || line.contains('/');
        let line = line.trim_start_matches('/');
        let mut pattern = String::new();
        if !prefix.is_empty() {
            pattern.push_str(prefix);
            pattern.push('/');
        }
        if !anchored {
            pattern.push_str("**/");
        }
        pattern.push_str(line);
        out.push(if negated {
            format!("!{pattern}")
        } else {
            pattern
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_lines_become_exclude_patterns() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".gitignore"),
            "# generated\n/sdk\n/.venv/\n__pycache__/\n*.log\n!keep.log\nbuild/out\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("web")).unwrap();
        std::fs::write(dir.path().join("web/.gitignore"), "node_modules\n").unwrap();
        assert_eq!(
            patterns(dir.path()),
            [
                "sdk",
                ".venv",
                "**/__pycache__",
                "**/*.log",
                "!**/keep.log",
                "build/out",
                "web/**/node_modules"
            ]
        );
    }
}
