//! Listing a repository's tags (`GET /v2/<name>/tags/list`), page by page
//! as the registry's `Link` header leads: how a registry cache finds which
//! entries exist without one index that concurrent writers would fight over.

use std::io::Read;

use serde::Deserialize;

use crate::client::Body;
use crate::retry::MAX_ATTEMPTS;
use crate::{Client, Error, Reference};

/// Tags asked for per page; registries may send fewer.
const PAGE: usize = 1000;
/// A page's body is bounded, as manifests are.
const MAX_PAGE_BYTES: u64 = 16 << 20;

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Client {
    /// Every tag of `reference`'s repository; none when the repository does
    /// not exist yet.
    pub fn list_tags(&self, reference: &Reference) -> Result<Vec<String>, Error> {
        let mut tags = Vec::new();
        let mut path = format!("/v2/{}/tags/list?n={PAGE}", reference.repository());
        loop {
            let response = match self.send(reference, "GET", &path, &[], Body::Empty, MAX_ATTEMPTS)
            {
                Ok(response) => response,
                Err(Error::NotFound { .. }) if tags.is_empty() => return Ok(tags),
                Err(error) => return Err(error),
            };
            let next = response.header("Link").and_then(next_page);
            let url = response.get_url().to_owned();
            let mut body = Vec::new();
            response
                .into_reader()
                .take(MAX_PAGE_BYTES)
                .read_to_end(&mut body)
                .map_err(|source| Error::Read {
                    what: format!("the tags of {}", reference.repository()),
                    url: url.clone(),
                    source,
                })?;
            let page: Page = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
                url,
                detail: format!("answered a tag list that is not the expected JSON ({e})"),
            })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(next) => path = next,
                None => return Ok(tags),
            }
        }
    }
}

/// The target of `Link: <…>; rel="next"`.
fn next_page(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_where_link_says() {
        assert_eq!(
            next_page(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(next_page(r#"</x>; rel="prev""#), None);
    }
}
