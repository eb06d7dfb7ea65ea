//! Dockerfiles, read as BuildKit's frontend reads them: the file's
//! directives, its instructions with their flags and arguments
//! (`instruction.rs`, over `lines.rs`, which joins continued lines and takes
//! out here-documents), and the words Docker expands variables in
//! (`expand.rs`). Building stages from them is the build's, not this
//! module's: here nothing runs and nothing is expanded yet.

mod expand;
mod instruction;
mod lines;

pub use expand::{expand, expand_variables, words};
pub use instruction::{Command, CopySpec, HealthcheckSpec, Instruction, Located};
pub use lines::{Directives, Heredoc};

use crate::error::Error;

/// A parsed Dockerfile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    pub instructions: Vec<Located>,
}

/// Parses `text`, the contents of the Dockerfile `file` (named in errors,
/// with the line and the instruction).
pub fn parse(file: &str, text: &str) -> Result<Dockerfile, Error> {
    let (directives, logical) = lines::split(file, text)?;
    let escape = directives.escape;
    let instructions = logical
        .into_iter()
        .map(|line| instruction::parse(file, line, escape))
        .collect::<Result<Vec<_>, _>>()?;
    match instructions
        .iter()
        .find(|i| !matches!(i.instruction, Instruction::Arg(_)))
    {
        Some(Located {
            instruction: Instruction::From { .. },
            ..
        }) => {}
        Some(first) => {
            return Err(Error::Dockerfile {
                file: file.to_owned(),
                line: first.line,
                instruction: first
                    .text
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_ascii_uppercase(),
                reason: "the first instruction (after ARGs) must be FROM".into(),
            })
        }
        None => {
            return Err(Error::Dockerfile {
                file: file.to_owned(),
                line: 1,
                instruction: String::new(),
                reason: "there is no FROM: a Dockerfile needs at least one stage".into(),
            })
        }
    }
    Ok(Dockerfile {
        directives,
        instructions,
    })
}

/// One instruction alone, as an image's `OnBuild` trigger holds it: run
/// when a Dockerfile builds `FROM` that image, named `file` in errors.
pub fn parse_trigger(file: &str, text: &str, escape: char) -> Result<Located, Error> {
    let logical = lines::Logical {
        line: 0,
        text: text.trim().to_owned(),
        heredocs: Vec::new(),
    };
    instruction::parse(file, logical, escape)
}

#[cfg(test)]
mod tests;
