//! One page stream for every list operation: yields items, follows
//! `metadata.paging.next_page`, and stops on a missing `paging`, a null `next_page` or an
//! empty page ([`items`]); and one for the lists that take `id[gt]` instead of page numbers
//! (bulk jobs and their results: [`items_after_id`]). At most one page is held in memory.

use crate::error::ApiError;
use crate::types::{ErrorBody, ListMetadata};
use futures_util::Stream;
use progenitor_client::ResponseValue;
use std::collections::VecDeque;
use std::future::Future;

/// A `{data: [...], metadata}` envelope (implemented for every list envelope of the spec).
pub trait ListEnvelope {
    type Item;
    fn into_parts(self) -> (Vec<Self::Item>, Option<ListMetadata>);
}

/// The page after this one, if the metadata says there is one.
pub fn next_page(metadata: Option<&ListMetadata>) -> Option<i64> {
    metadata?.paging.as_ref()?.next_page
}

/// Every item of a list, page after page. `fetch(page)` sends the list request for that page:
///
/// ```no_run
/// # async fn f(client: salesloft_api::Client) -> Result<(), salesloft_api::ApiError> {
/// use futures::TryStreamExt;
/// let people = salesloft_api::pagination::items(|page| client.list_people().per_page(100).page(page).send());
/// futures::pin_mut!(people);
/// while let Some(person) = people.try_next().await? {
///     println!("{:?}", person.email_address);
/// }
/// # Ok(()) }
/// ```
pub fn items<E, F, Fut>(fetch: F) -> impl Stream<Item = Result<E::Item, ApiError>>
where
    E: ListEnvelope,
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = Result<ResponseValue<E>, progenitor_client::Error<ErrorBody>>>,
{
    struct State<F, T> {
        fetch: F,
        next: Option<i64>,
        buffer: VecDeque<T>,
    }
    let state = State {
        fetch,
        next: Some(1),
        buffer: VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.buffer.pop_front() {
                return Some((Ok(item), state));
            }
            let page = state.next.take()?;
            match (state.fetch)(page).await {
                Err(e) => return Some((Err(ApiError::from(e)), state)),
                Ok(response) => {
                    let (data, metadata) = response.into_inner().into_parts();
                    if !data.is_empty() {
                        // A service that repeats a page number would loop: only go forward.
                        state.next = next_page(metadata.as_ref()).filter(|n| *n > page);
                    }
                    state.buffer = data.into();
                }
            }
        }
    })
}

/// The `id[gt]` to ask after a page whose records have `ids` (in the order answered), the read
/// having asked after `after`: the page's last id, or `None` when the page is the last (shorter
/// than `per_page`). A page with an id not above `after` means the service did not move past
/// the records already read (it ignored `id[gt]`): an error, not a loop.
pub fn next_after_id(
    after: Option<i64>,
    ids: &[i64],
    per_page: usize,
) -> Result<Option<i64>, ApiError> {
    if let Some(after) = after
        && let Some(behind) = ids.iter().find(|id| **id <= after)
    {
        return Err(ApiError::PageRepeated { after, id: *behind });
    }
    if ids.len() < per_page {
        return Ok(None);
    }
    Ok(ids.last().copied())
}

/// Every item of a list walked by `id[gt]`, `per_page` at a time. `fetch(after)` sends the
/// list request with `id[gt]=after` (none for the first) and that `per_page`; `id_of` reads an
/// item's id. Stops after a page shorter than `per_page`; a page that does not move past the
/// last id is [`ApiError::PageRepeated`].
///
/// ```no_run
/// # async fn f(client: salesloft_api::Client) -> Result<(), salesloft_api::ApiError> {
/// use futures::TryStreamExt;
/// use salesloft_api::pagination::{items_after_id, id_number};
/// let jobs = items_after_id(100, |job: &salesloft_api::types::BulkJob| id_number(&job.id), |after| {
///     let list = client.list_bulk_jobs().per_page(100);
///     match after {
///         Some(after) => list.id_gt(after),
///         None => list,
///     }
///     .send()
/// });
/// futures::pin_mut!(jobs);
/// while let Some(job) = jobs.try_next().await? {
///     println!("{:?} {:?}", job.id, job.state);
/// }
/// # Ok(()) }
/// ```
pub fn items_after_id<E, F, Fut>(
    per_page: usize,
    id_of: impl Fn(&E::Item) -> Option<i64>,
    fetch: F,
) -> impl Stream<Item = Result<E::Item, ApiError>>
where
    E: ListEnvelope,
    F: FnMut(Option<i64>) -> Fut,
    Fut: Future<Output = Result<ResponseValue<E>, progenitor_client::Error<ErrorBody>>>,
{
    struct State<F, T, I> {
        fetch: F,
        id_of: I,
        /// The `id[gt]` of the next request; `None` inside: the first request.
        next: Option<Option<i64>>,
        buffer: VecDeque<T>,
    }
    let state = State {
        fetch,
        id_of,
        next: Some(None),
        buffer: VecDeque::new(),
    };
    futures_util::stream::unfold(state, move |mut state| async move {
        loop {
            if let Some(item) = state.buffer.pop_front() {
                return Some((Ok(item), state));
            }
            let after = state.next.take()?;
            match (state.fetch)(after).await {
                Err(e) => return Some((Err(ApiError::from(e)), state)),
                Ok(response) => {
                    let (data, _) = response.into_inner().into_parts();
                    let ids: Vec<i64> =
                        data.iter().filter_map(|item| (state.id_of)(item)).collect();
                    match next_after_id(after, &ids, per_page) {
                        Ok(next) => state.next = next.map(Some),
                        Err(e) => return Some((Err(e), state)),
                    }
                    state.buffer = data.into();
                }
            }
        }
    })
}

/// An id as a number, for [`items_after_id`] (`None` for a string id).
pub fn id_number(id: &Option<crate::Id>) -> Option<i64> {
    id.as_ref()?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_id_is_the_last_of_a_full_page_and_none_after_a_short_one() {
        assert_eq!(next_after_id(None, &[1, 2, 3], 3).unwrap(), Some(3));
        assert_eq!(next_after_id(Some(3), &[4, 5], 3).unwrap(), None);
        assert_eq!(next_after_id(Some(3), &[], 3).unwrap(), None);
        let repeated = next_after_id(Some(3), &[2, 3, 4], 3).unwrap_err();
        assert!(matches!(
            repeated,
            ApiError::PageRepeated { after: 3, id: 2 }
        ));
    }
}
