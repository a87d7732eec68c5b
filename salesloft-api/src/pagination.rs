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
    walk(1, fetch, |page, data: &[E::Item], metadata| {
        // A service that repeats a page number would loop: only go forward.
        Ok(next_page(metadata).filter(|n| !data.is_empty() && *n > page))
    })
}

/// The stream both walks are: `fetch(request)` answers a page, `next_of(request, items,
/// metadata)` says what to ask after it (`None`: that page was the last). An error ends the
/// stream after it is handed on.
fn walk<E, R, F, Fut, N>(
    first: R,
    fetch: F,
    next_of: N,
) -> impl Stream<Item = Result<E::Item, ApiError>>
where
    E: ListEnvelope,
    R: Copy,
    F: FnMut(R) -> Fut,
    Fut: Future<Output = Result<ResponseValue<E>, progenitor_client::Error<ErrorBody>>>,
    N: FnMut(R, &[E::Item], Option<&ListMetadata>) -> Result<Option<R>, ApiError>,
{
    struct State<F, N, R, T> {
        fetch: F,
        next_of: N,
        next: Option<R>,
        buffer: VecDeque<T>,
    }
    let state = State {
        fetch,
        next_of,
        next: Some(first),
        buffer: VecDeque::new(),
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.buffer.pop_front() {
                return Some((Ok(item), state));
            }
            let request = state.next.take()?;
            match (state.fetch)(request).await {
                Err(e) => return Some((Err(ApiError::from(e)), state)),
                Ok(response) => {
                    let (data, metadata) = response.into_inner().into_parts();
                    match (state.next_of)(request, &data, metadata.as_ref()) {
                        Ok(next) => state.next = next,
                        Err(e) => return Some((Err(e), state)),
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
    walk(None, fetch, move |after, data: &[E::Item], _| {
        let ids: Vec<i64> = data.iter().filter_map(&id_of).collect();
        Ok(next_after_id(after, &ids, per_page)?.map(Some))
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
