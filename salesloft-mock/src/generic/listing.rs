//! Lists as the service pages them: filters, sorting, `page`/`per_page` (clamped silently),
//! and the `metadata` block with totals only when `include_paging_counts=true`.

use crate::error::ApiError;
use crate::generic::table::Record;
use crate::params::Params;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;

pub const DEFAULT_PER_PAGE: u64 = 25;
pub const MAX_PER_PAGE: u64 = 100;

#[derive(Clone, Debug, PartialEq)]
pub enum SortKey {
    UpdatedAt,
    CreatedAt,
    Id,
    Field(String),
}

#[derive(Clone, Debug)]
pub struct ListRequest {
    pub page: u64,
    pub per_page: u64,
    pub include_counts: bool,
    pub sort_by: String,
    sort: SortKey,
    pub descending: bool,
    /// What the `metadata.filtering` block echoes.
    pub filtering: Map<String, Value>,
}

/// The page number a request asks for, corrected as the service corrects it (for cost too).
pub fn page_number(params: &Params) -> u64 {
    params
        .get("page")
        .and_then(|p| p.trim().parse::<i64>().ok())
        .map_or(1, |p| p.max(1) as u64)
}

/// What a request for `page` costs (SERVICE.md §3).
pub fn cost(page: u64) -> u32 {
    match page {
        0..=100 => 1,
        101..=150 => 3,
        151..=250 => 8,
        251..=500 => 10,
        _ => 30,
    }
}

impl ListRequest {
    /// Reads paging and sorting (the filters are the resource's: `generic`). `sortable` is what
    /// the list's `sort_by` accepts besides `updated_at`, `created_at` and `id`; a list that
    /// declares no `sort_by` (empty) ignores the sorting parameters, as an unknown filter.
    pub fn parse(params: &Params, sortable: &[String]) -> Result<Self, ApiError> {
        let declared = !sortable.is_empty();
        let per_page = params
            .get("per_page")
            .and_then(|p| p.trim().parse::<i64>().ok())
            .map_or(DEFAULT_PER_PAGE, |p| p.clamp(1, MAX_PER_PAGE as i64) as u64);
        let asked = |name: &str| params.get(name).filter(|_| declared);
        let sort_by = asked("sort_by").unwrap_or("updated_at").to_string();
        let sort = match sort_by.as_str() {
            "updated_at" => SortKey::UpdatedAt,
            "created_at" => SortKey::CreatedAt,
            "id" => SortKey::Id,
            other if sortable.iter().any(|s| s == other) => SortKey::Field(other.to_string()),
            _ => return Err(ApiError::invalid("sort_by", "is not a valid sort field")),
        };
        let descending = match asked("sort_direction")
            .map(str::to_ascii_uppercase)
            .as_deref()
        {
            None | Some("DESC") => true,
            Some("ASC") => false,
            Some(_) => return Err(ApiError::invalid("sort_direction", "must be ASC or DESC")),
        };
        let mut filtering = Map::new();
        for (key, value) in &params.0 {
            let name = key.trim_end_matches("[]");
            if name == "ids" || name.starts_with("updated_at[") || name.starts_with("created_at[") {
                filtering.insert(name.to_string(), json!(value));
            }
        }
        Ok(Self {
            page: page_number(params),
            per_page,
            include_counts: params.get("include_paging_counts") == Some("true"),
            sort_by,
            sort,
            descending,
            filtering,
        })
    }

    /// The first page in ascending id order, whatever was asked: a list walked by `id[gt]`.
    pub fn by_ascending_id(&mut self) {
        self.page = 1;
        self.sort = SortKey::Id;
        self.sort_by = "id".into();
        self.descending = false;
    }

    fn compare(&self, a: &Record, b: &Record) -> Ordering {
        let by_key = match &self.sort {
            SortKey::UpdatedAt => a.updated_at.cmp(&b.updated_at),
            SortKey::CreatedAt => a.created_at.cmp(&b.created_at),
            SortKey::Id => Ordering::Equal,
            SortKey::Field(name) => a.str_field(name).cmp(&b.str_field(name)),
        };
        // Ties are broken by id, so page numbers walk a stable order.
        let ordering = by_key.then(a.id.cmp(&b.id));
        if self.descending {
            ordering.reverse()
        } else {
            ordering
        }
    }

    /// The requested page of the records that pass `keep`, in the list envelope. Only the
    /// records up to this page are sorted.
    pub fn respond<'a>(
        &self,
        records: impl Iterator<Item = &'a Record>,
        keep: impl Fn(&Record) -> bool,
    ) -> Value {
        let mut matching: Vec<&Record> = records.filter(|r| keep(r)).collect();
        let total = matching.len() as u64;
        let start = (self.page - 1).saturating_mul(self.per_page);
        let end = start.saturating_add(self.per_page).min(total);
        let data: Vec<Value> = if start >= total {
            Vec::new()
        } else {
            let end = end as usize;
            if end < matching.len() {
                matching.select_nth_unstable_by(end, |a, b| self.compare(a, b));
                matching.truncate(end);
            }
            matching.sort_unstable_by(|a, b| self.compare(a, b));
            matching[start as usize..end]
                .iter()
                .map(|r| r.render())
                .collect()
        };
        self.envelope(data, total)
    }

    /// The list envelope around `data`, out of `total` matching records.
    pub fn envelope(&self, data: Vec<Value>, total: u64) -> Value {
        let last_page = total.div_ceil(self.per_page);
        let mut paging = json!({
            "per_page": self.per_page,
            "current_page": self.page,
            "next_page": if self.page < last_page { json!(self.page + 1) } else { Value::Null },
            "prev_page": if self.page > 1 { json!(self.page - 1) } else { Value::Null },
        });
        if self.include_counts {
            paging["total_pages"] = json!(last_page);
            paging["total_count"] = json!(total);
        }
        let direction = if self.descending {
            "DESC NULLS LAST"
        } else {
            "ASC"
        };
        json!({
            "metadata": {
                "filtering": self.filtering,
                "paging": paging,
                "sorting": {"sort_by": self.sort_by, "sort_direction": direction},
            },
            "data": data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    fn records(n: i64) -> Vec<Record> {
        let start = Utc::now();
        (1..=n)
            .map(|id| Record {
                id,
                created_at: start,
                updated_at: start + Duration::seconds(id % 3),
                fields: Map::new(),
            })
            .collect()
    }

    fn page(query: &str, rows: &[Record]) -> Value {
        ListRequest::parse(&Params::parse(Some(query)), &["name".to_string()])
            .unwrap()
            .respond(rows.iter(), |_| true)
    }

    #[test]
    fn per_page_is_clamped_and_echoed() {
        let rows = records(300);
        let body = page("per_page=1000", &rows);
        assert_eq!(body["metadata"]["paging"]["per_page"], 100);
        assert_eq!(body["data"].as_array().unwrap().len(), 100);
        assert_eq!(
            page("per_page=0", &rows)["metadata"]["paging"]["per_page"],
            1
        );
        assert_eq!(
            page("page=-3", &rows)["metadata"]["paging"]["current_page"],
            1
        );
    }

    #[test]
    fn totals_only_when_asked_and_past_the_end_is_empty() {
        let rows = records(30);
        let plain = page("", &rows);
        assert!(plain["metadata"]["paging"].get("total_count").is_none());
        assert_eq!(plain["metadata"]["paging"]["next_page"], 2);
        let counted = page("include_paging_counts=true&page=2", &rows);
        assert_eq!(counted["metadata"]["paging"]["total_count"], 30);
        assert_eq!(counted["metadata"]["paging"]["total_pages"], 2);
        assert_eq!(counted["metadata"]["paging"]["next_page"], Value::Null);
        assert_eq!(counted["data"].as_array().unwrap().len(), 5);
        assert_eq!(page("page=9", &rows)["data"], json!([]));
    }

    #[test]
    fn sorted_by_updated_at_then_id_and_walkable_by_page() {
        let rows = records(250);
        let mut seen = Vec::new();
        for p in 1..=3 {
            let body = page(
                &format!("sort_by=updated_at&sort_direction=ASC&per_page=100&page={p}"),
                &rows,
            );
            seen.extend(
                body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].as_i64().unwrap()),
            );
        }
        assert_eq!(seen.len(), 250);
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 250, "no record twice, none skipped");
    }

    #[test]
    fn bad_sort_gets_422() {
        let declared = ["name".to_string()];
        assert!(ListRequest::parse(&Params::parse(Some("sort_by=shoe_size")), &declared).is_err());
        assert!(
            ListRequest::parse(&Params::parse(Some("sort_direction=sideways")), &declared).is_err()
        );
        assert!(
            ListRequest::parse(&Params::parse(Some("sort_by=shoe_size")), &[]).is_ok(),
            "a list that declares no sort ignores the parameter"
        );
    }

    #[test]
    fn costs() {
        assert_eq!(
            [1, 100, 101, 150, 151, 250, 251, 500, 501].map(cost),
            [1, 1, 3, 3, 8, 8, 10, 10, 30]
        );
    }
}
