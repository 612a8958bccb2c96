//! Pages of the API's lists that grow (rooms, participants): sorted by their key, asked
//! for with `?limit=` and `?after=` (the last key of the page before); each answer's
//! `next` is the key to ask after for the next page, `null` on the last.

use moim_proto::ErrorCode;
use moim_proto::error::ApiError;
use serde::Deserialize;

/// How many items a page holds unless `limit` says otherwise.
pub const DEFAULT_LIMIT: usize = 100;
/// The most a page holds.
pub const MAX_LIMIT: usize = 1000;

/// The query of a list: which page.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items on the page, 1–1000 (default 100).
    #[serde(default)]
    pub limit: Option<usize>,
    /// The key (name or identity) after which the page starts: the `next` of the page
    /// before.
    #[serde(default)]
    pub after: Option<String>,
}

/// A page of `items` and the key to ask after for the next one.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

impl PageQuery {
    /// The page this query asks for of `items` (in any order), keyed by `key`.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> &str,
    ) -> Result<Page<T>, ApiError> {
        let limit = self.limit()?;
        if let Some(after) = &self.after {
            items.retain(|item| key(item) > after.as_str());
        }
        items.sort_unstable_by(|a, b| key(a).cmp(key(b)));
        let next = (items.len() > limit).then(|| key(&items[limit - 1]).to_owned());
        items.truncate(limit);
        Ok(Page { items, next })
    }

    /// The items asked for on a page, checked to be 1–1000.
    pub fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::new(
                ErrorCode::MalformedMessage,
                format!("limit must be between 1 and {MAX_LIMIT}."),
            ));
        }
        Ok(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(limit: Option<usize>, after: Option<&str>) -> Result<Page<&'static str>, ApiError> {
        let query = PageQuery {
            limit,
            after: after.map(str::to_owned),
        };
        query.page(vec!["d", "a", "c", "b", "e"], |s| s)
    }

    #[test]
    fn pages_follow_each_other_in_key_order_to_the_end() {
        let first = page(Some(2), None).unwrap();
        assert_eq!(
            (first.items, first.next.as_deref()),
            (vec!["a", "b"], Some("b"))
        );
        let second = page(Some(2), Some("b")).unwrap();
        assert_eq!(
            (second.items, second.next.as_deref()),
            (vec!["c", "d"], Some("d"))
        );
        let last = page(Some(2), Some("d")).unwrap();
        assert_eq!((last.items, last.next), (vec!["e"], None));
        let all = page(None, None).unwrap();
        assert_eq!((all.items.len(), all.next), (5, None));
    }

    #[test]
    fn a_limit_out_of_range_is_refused() {
        for limit in [0, MAX_LIMIT + 1] {
            let e = page(Some(limit), None).err().unwrap();
            assert_eq!(e.code, ErrorCode::MalformedMessage);
        }
    }
}
