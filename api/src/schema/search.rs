//! `Directory.search`, `File.search`: `SearchResult` and `SearchSubmatch`.
//! The SDKs fetch lists of objects by ID, one `node(id:)` per element, so
//! both register theirs.

use async_graphql::{Context, Object, Result, ID};

use super::state;
use crate::ids::Object as Value;

pub(crate) struct SearchResultObj(pub engine::SearchResult);
pub(crate) struct SearchSubmatchObj(pub engine::Submatch);

/// Dagger's Int is 32 bits; an offset past it says the most it can.
fn int(value: u64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[Object(name = "SearchResult")]
impl SearchResultObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::SearchResult(self.0.clone())))
    }

    async fn file_path(&self) -> &str {
        &self.0.file_path
    }

    async fn line_number(&self) -> i32 {
        int(self.0.line_number)
    }

    async fn absolute_offset(&self) -> i32 {
        int(self.0.absolute_offset)
    }

    async fn matched_lines(&self) -> &str {
        &self.0.matched_lines
    }

    async fn submatches(&self) -> Vec<SearchSubmatchObj> {
        self.0
            .submatches
            .iter()
            .cloned()
            .map(SearchSubmatchObj)
            .collect()
    }
}

#[Object(name = "SearchSubmatch")]
impl SearchSubmatchObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx)
            .ids
            .register(Value::SearchSubmatch(self.0.clone())))
    }

    async fn text(&self) -> &str {
        &self.0.text
    }

    async fn start(&self) -> i32 {
        int(self.0.start)
    }

    async fn end(&self) -> i32 {
        int(self.0.end)
    }
}

/// Dagger's search arguments, as both fields take them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn options(
    paths: Vec<String>,
    globs: Vec<String>,
    pattern: String,
    literal: bool,
    multiline: bool,
    dotall: bool,
    insensitive: bool,
    skip_ignored: bool,
    skip_hidden: bool,
    files_only: bool,
    limit: Option<i32>,
) -> Result<engine::SearchOptions> {
    if skip_ignored {
        return Err(async_graphql::Error::new(
            "search: tanto does not read .gitignore, .ignore or .rgignore files yet; leave skipIgnored out and narrow the search with globs or paths",
        ));
    }
    Ok(engine::SearchOptions {
        pattern,
        literal,
        multiline,
        dotall,
        insensitive,
        skip_hidden,
        files_only,
        limit: limit.map(|n| n.max(0) as usize),
        paths,
        globs,
    })
}

pub(crate) fn results(found: Vec<engine::SearchResult>) -> Vec<SearchResultObj> {
    found.into_iter().map(SearchResultObj).collect()
}
