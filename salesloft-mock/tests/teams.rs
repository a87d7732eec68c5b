//! Many teams on one sandbox, as on the service: each token or key acts for its own team only.

mod common;

use common::{Api, http};
use salesloft_mock::{Config, DEFAULT_REDIRECT_URI, Sandbox, SandboxHandle};
use serde_json::{Value, json};

/// `POST /__admin/teams`, over HTTP as other languages would.
async fn add_teams(sandbox: &SandboxHandle, count: usize) -> Vec<Value> {
    let response = http()
        .post(format!("{}/__admin/teams", sandbox.api_base_url()))
        .json(&json!({ "count": count }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Vec<Value>>().await.unwrap()
}

/// The same sandbox, acting with another credential.
fn acting_as(api: &Api, token: &str) -> Api {
    Api {
        sandbox: api.sandbox.clone(),
        http: api.http.clone(),
        token: token.to_string(),
    }
}

fn ids(answer: &common::Answer) -> Vec<i64> {
    answer.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn two_teams_never_see_each_others_records_or_budget() {
    let first = Api::start().await;
    let added = add_teams(&first.sandbox, 2).await;
    assert_eq!(
        added
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [2, 3]
    );
    let second = acting_as(&first, added[0]["api_key"].as_str().unwrap());

    let me = second.get("/v2/me").await;
    assert_eq!(me.body["data"]["id"], added[0]["user"]["id"]);
    assert_eq!(me.body["data"]["email"], "admin@team2.sandbox.example");
    assert_eq!(second.get("/v2/team").await.body["data"]["id"], 2);
    assert_eq!(first.get("/v2/team").await.body["data"]["id"], 1);

    // Each team starts with its own three people; ids never collide across teams.
    let mine = ids(&first.get("/v2/people").await);
    let theirs = ids(&second.get("/v2/people").await);
    assert_eq!((mine.len(), theirs.len()), (3, 3));
    assert!(
        mine.iter().all(|id| !theirs.contains(id)),
        "{mine:?} {theirs:?}"
    );

    // Another team's record is 404 by id, absent from lists, and cannot be changed.
    let foreign = format!("/v2/people/{}", mine[0]);
    assert_eq!(second.get(&foreign).await.status, 404);
    assert_eq!(
        second.put(&foreign, json!({"title": "x"})).await.status,
        404
    );
    assert_eq!(second.delete(&foreign).await.status, 404);
    assert_eq!(first.get(&foreign).await.body["data"]["title"], Value::Null);
    let person = json!({"email_address": "both@example.com"});
    assert_eq!(first.post("/v2/people", person.clone()).await.status, 200);
    let created = second.post("/v2/people", person).await;
    assert_eq!(
        created.status, 200,
        "emails are unique per team: {:?}",
        created.body
    );
    assert!(created.body["data"]["id"].as_i64().unwrap() > 1_000_000_000);
    assert_eq!(ids(&first.get("/v2/people").await).len(), 4);

    // Each team has its own budget: the second spends all of its own, the first pays nothing.
    first.sandbox.team(2).unwrap().set_rate_limit(3);
    let mut statuses = Vec::new();
    while statuses.last() != Some(&429) && statuses.len() < 20 {
        statuses.push(second.get("/v2/people").await.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let untouched = first.get("/v2/people").await;
    assert_eq!(untouched.status, 200);
    let left: u32 = untouched
        .header("x-ratelimit-remaining-minute")
        .unwrap()
        .parse()
        .unwrap();
    assert!(left >= 590, "{left}");

    // The admin routes take ?team=.
    let base = first.sandbox.api_base_url();
    let seeded = http()
        .post(format!("{base}/__admin/seed_people?team=3"))
        .json(&json!({"count": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), 204);
    let third = first.sandbox.team(3).unwrap();
    assert_eq!(third.records("people").len(), 8);
    let listed: Vec<Value> = http()
        .get(format!("{base}/__admin/records/people?team=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(first.sandbox.records("people").len(), 4);
    assert!(first.sandbox.team(2).unwrap().requests().len() >= 8);
    for bad in ["99", "0", "x"] {
        let refused = http()
            .get(format!("{base}/__admin/records/people?team={bad}"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 400, "team={bad}");
        assert!(refused.text().await.unwrap().contains("team"));
    }
}

fn location_params(response: &reqwest::Response) -> Vec<(String, String)> {
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

async fn token(sandbox: &SandboxHandle, body: Value) -> (u16, Value) {
    let response = http()
        .post(format!("{}/oauth/token", sandbox.accounts_base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Authorizes as team `team`'s admin and exchanges the code: (access, refresh, context).
async fn connect(sandbox: &SandboxHandle, team: i64) -> (String, String, String) {
    let url = format!(
        "{}/oauth/authorize?client_id=sandbox-client-id&redirect_uri={}&response_type=code&team={team}",
        sandbox.accounts_base_url(),
        url::form_urlencoded::byte_serialize(DEFAULT_REDIRECT_URI.as_bytes()).collect::<String>()
    );
    let redirect = http().get(url).send().await.unwrap();
    assert_eq!(redirect.status(), 302);
    let pairs = location_params(&redirect);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).unwrap().1.clone();
    let (status, tokens) = token(
        sandbox,
        json!({"grant_type": "authorization_code", "code": get("code"),
               "redirect_uri": DEFAULT_REDIRECT_URI, "client_id": "sandbox-client-id",
               "client_secret": "sandbox-client-secret"}),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    (
        tokens["access_token"].as_str().unwrap().to_string(),
        tokens["refresh_token"].as_str().unwrap().to_string(),
        get("context"),
    )
}

#[tokio::test]
async fn oauth_acts_for_the_authorizing_team_and_revoking_a_team_leaves_the_others() {
    let first = Api::start().await;
    first.sandbox.add_teams(2).unwrap();
    let (access, refresh, context) = connect(&first.sandbox, 2).await;
    assert_eq!(context, "team_2");
    let second = acting_as(&first, &access);
    assert_eq!(second.get("/v2/team").await.body["data"]["id"], 2);

    // A refresh stays with its team.
    let (status, renewed) = token(
        &first.sandbox,
        json!({"grant_type": "refresh_token", "refresh_token": refresh,
               "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}),
    )
    .await;
    assert_eq!(status, 200);
    let second = acting_as(&first, renewed["access_token"].as_str().unwrap());
    assert_eq!(second.get("/v2/team").await.body["data"]["id"], 2);

    let (third_access, _, _) = connect(&first.sandbox, 3).await;
    let revoked = http()
        .post(format!(
            "{}/__admin/teams/2/revoke",
            first.sandbox.api_base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_eq!(second.get("/v2/me").await.status, 401);
    let (status, refused) = token(
        &first.sandbox,
        json!({"grant_type": "refresh_token", "refresh_token": renewed["refresh_token"],
               "client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}),
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let third = acting_as(&first, &third_access);
    assert_eq!(third.get("/v2/me").await.status, 200);
    assert_eq!(first.get("/v2/me").await.status, 200);

    let unknown = http()
        .get(format!(
            "{}/oauth/authorize?client_id=sandbox-client-id&redirect_uri=x&response_type=code&team=9",
            first.sandbox.accounts_base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn new_teams_take_the_first_teams_settings_and_keep_their_own_after() {
    let sandbox = Sandbox::start(Config {
        rate_limit_per_minute: 50,
        ..Config::default()
    })
    .await
    .unwrap();
    let added = sandbox.add_teams(1).unwrap();
    let team = sandbox.team(added[0].id).unwrap();
    team.set_rate_limit(7);
    let api = Api {
        sandbox: sandbox.clone(),
        http: http(),
        token: added[0].api_key.clone(),
    };
    let answer = api.get("/v2/me").await;
    assert_eq!(answer.header("x-ratelimit-remaining-minute"), Some("6"));
    let first = Api {
        sandbox: sandbox.clone(),
        http: http(),
        token: sandbox.api_key(),
    };
    assert_eq!(
        first
            .get("/v2/me")
            .await
            .header("x-ratelimit-remaining-minute"),
        Some("49")
    );
    assert!(sandbox.team(added[0].id + 1).is_none());
}
