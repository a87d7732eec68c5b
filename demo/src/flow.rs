//! The person-plus-cadence flow, step by step, on any authorized client.

use crate::error::DemoError;
use crate::event_feed::EventFeed;
use crate::output::{Account, Links, Membership, Person, Report, Reporter, User};
use salesloft_api::Client;
use salesloft_api::Id;

/// Knobs of one run.
#[derive(Clone, Debug)]
pub struct FlowOptions {
    /// The web app's base URL, for the links printed at the end.
    pub app_base_url: String,
    /// Remove what the run created.
    pub cleanup: bool,
    /// Seconds since the epoch, for the new person's unique email.
    pub unix_time: i64,
}

/// `name+<unix time>@domain` from the user's own address: unique, and delivered to them.
pub fn derived_email(user_email: &str, unix_time: i64) -> Result<String, DemoError> {
    let (local, domain) = user_email
        .split_once('@')
        .filter(|(l, d)| !l.is_empty() && d.contains('.'))
        .ok_or_else(|| {
            DemoError::Flow(format!(
                "the user's email `{user_email}` is not an address to derive one from"
            ))
        })?;
    let local = local.split('+').next().unwrap_or(local);
    Ok(format!("{local}+{unix_time}@{domain}"))
}

fn embedded_id(id: &Option<Id>) -> Option<i64> {
    id.as_ref().and_then(Id::as_i64)
}

/// A record's id, which every record the flow goes on with must have, as the integer the
/// API's paths take.
fn id_of(id: &Option<Id>, what: &str) -> Result<i64, DemoError> {
    match id {
        None => Err(DemoError::Flow(format!(
            "SalesLoft returned {what} without an id"
        ))),
        Some(id) => id.as_i64().ok_or_else(|| {
            DemoError::Flow(format!(
                "SalesLoft returned {what} whose id `{id}` is not an integer"
            ))
        }),
    }
}

/// The flow: one function per step, in order. A step reports itself (the reporter numbers
/// it) and leaves what later steps need in the report.
///
/// With `events` (a subscribed webhook receiver), each step that changes a person or adds a
/// membership also waits for the webhook it caused and prints it.
pub async fn run(
    client: &Client,
    options: &FlowOptions,
    out: &Reporter,
    report: &mut Report,
    mut events: Option<&mut EventFeed>,
) -> Result<(), DemoError> {
    let my_email = who_am_i(client, out, report).await?;
    let email = derived_email(&my_email, options.unix_time)?;
    let person_id = create_person(client, &email, out).await?;
    webhook(&mut events, "person_created", out, report).await?;
    rename_person(client, person_id, &email, out, report).await?;
    webhook(&mut events, "person_updated", out, report).await?;
    look_up_by_email(client, person_id, &email, out).await?;
    set_company(client, person_id, &email, out, report).await?;
    webhook(&mut events, "person_updated", out, report).await?;
    add_to_cadence(client, person_id, options, out, report).await?;
    if report.membership.is_some() {
        webhook(&mut events, "cadence_membership_created", out, report).await?;
    }
    show_links(out, report);
    if options.cleanup {
        cleanup(client, report, out).await?;
    }
    Ok(())
}

/// The webhook a step caused, printed under it (nothing without a receiver).
async fn webhook(
    events: &mut Option<&mut EventFeed>,
    event_type: &str,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    match events {
        Some(feed) => feed.show(event_type, out, &mut report.webhooks).await,
        None => Ok(()),
    }
}

/// Who am I: the authorized user; their email address.
async fn who_am_i(
    client: &Client,
    out: &Reporter,
    report: &mut Report,
) -> Result<String, DemoError> {
    let me = client.get_me().call().await?.into_inner().data;
    let my_email = me.email.clone().unwrap_or_default();
    out.step(&format!(
        "Signed in as {} <{}>",
        me.name.as_deref().unwrap_or("(no name)"),
        my_email
    ));
    report.user = Some(User {
        name: me.name.clone(),
        email: me.email.clone(),
    });
    Ok(my_email)
}

/// Creates a person with `email`; their id.
async fn create_person(client: &Client, email: &str, out: &Reporter) -> Result<i64, DemoError> {
    let created = client
        .create_person()
        .body_map(|b| {
            b.email_address(email.to_string())
                .first_name("Demo".to_string())
                .last_name("Person".to_string())
        })
        .call()
        .await?
        .into_inner()
        .data;
    let person_id = id_of(&created.id, "a person")?;
    out.step(&format!(
        "Created person {person_id}: Demo Person <{email}>"
    ));
    Ok(person_id)
}

async fn rename_person(
    client: &Client,
    person_id: i64,
    email: &str,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let updated = client
        .update_person()
        .id(person_id)
        .body_map(|b| {
            b.first_name("Test".to_string())
                .last_name("McTester".to_string())
        })
        .call()
        .await?
        .into_inner()
        .data;
    let name = format!(
        "{} {}",
        updated.first_name.unwrap_or_default(),
        updated.last_name.unwrap_or_default()
    );
    out.step(&format!("Renamed person {person_id} to {name}"));
    report.person = Some(Person {
        id: person_id,
        email: email.to_string(),
        name,
    });
    Ok(())
}

/// Finds the person again by email: exactly them.
async fn look_up_by_email(
    client: &Client,
    person_id: i64,
    email: &str,
    out: &Reporter,
) -> Result<(), DemoError> {
    let found = client
        .list_people()
        .email_addresses(vec![email.to_string()])
        .call()
        .await?
        .into_inner()
        .data;
    let found_ids: Vec<i64> = found.iter().filter_map(|p| embedded_id(&p.id)).collect();
    if found_ids != [person_id] {
        return Err(DemoError::Flow(format!(
            "looking up {email} found {found_ids:?}, not person {person_id}"
        )));
    }
    out.step(&format!(
        "Looked up {email}: person {person_id}, the same person"
    ));
    Ok(())
}

/// The company of the email's domain, found or created, set on the person and checked.
async fn set_company(
    client: &Client,
    person_id: i64,
    email: &str,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let domain = email.rsplit('@').next().unwrap_or_default().to_string();
    let existing = client
        .list_accounts()
        .domain(domain.clone())
        .call()
        .await?
        .into_inner()
        .data
        .into_iter()
        .next();
    let (account, account_created) = match existing {
        Some(account) => (account, false),
        None => {
            let name = salesloft_api::enroll::company_name(&domain);
            let account = client
                .create_account()
                .body_map(|b| b.name(name).domain(domain.clone()))
                .call()
                .await?
                .into_inner()
                .data;
            (account, true)
        }
    };
    let account_id = id_of(&account.id, "an account")?;
    client
        .update_person()
        .id(person_id)
        .body_map(|b| b.account_id(account_id))
        .call()
        .await?;
    let linked = client
        .get_person()
        .id(person_id)
        .call()
        .await?
        .into_inner()
        .data;
    let linked_account = linked.account.as_ref().and_then(|a| embedded_id(&a.id));
    if linked_account != Some(account_id) {
        return Err(DemoError::Flow(format!(
            "person {person_id} is linked to {linked_account:?}, not account {account_id}"
        )));
    }
    let verb = if account_created { "Created" } else { "Found" };
    out.step(&format!(
        "{verb} account {account_id} ({}, {domain}); person {person_id} now belongs to it",
        account.name.as_deref().unwrap_or("unnamed")
    ));
    report.account = Some(Account {
        id: account_id,
        name: account.name.clone(),
        domain,
        created: account_created,
    });
    Ok(())
}

/// Adds the person to the first cadence the user can see, if there is one.
async fn add_to_cadence(
    client: &Client,
    person_id: i64,
    options: &FlowOptions,
    out: &Reporter,
    report: &mut Report,
) -> Result<(), DemoError> {
    let cadences = client
        .list_cadences()
        .per_page(100)
        .call()
        .await?
        .into_inner()
        .data;
    out.step(&format!("{} cadence(s) visible", cadences.len()));
    report.links = Links {
        note: "Web app paths are not part of the API; these follow the app's current layout."
            .into(),
        person: Some(format!("{}/app/people/{person_id}", options.app_base_url)),
        cadence: None,
    };
    let Some(cadence) = cadences.first() else {
        out.detail("No cadence to add the person to: create one in the SalesLoft app first, then run the demo again.");
        return Ok(());
    };
    let cadence_id = id_of(&cadence.id, "a cadence")?;
    let membership = client
        .create_cadence_membership()
        .person_id(person_id)
        .cadence_id(cadence_id)
        .call()
        .await?
        .into_inner()
        .data;
    let membership_id = id_of(&membership.id, "a membership")?;
    out.detail(&format!(
        "Added person {person_id} to cadence {cadence_id} ({}): membership {membership_id}, state {}",
        cadence.name.as_deref().unwrap_or("unnamed"),
        membership.current_state.as_deref().unwrap_or("unknown")
    ));
    report.links.cadence = Some(format!(
        "{}/app/cadences/{cadence_id}/people",
        options.app_base_url
    ));
    report.membership = Some(Membership {
        id: membership_id,
        cadence_id,
        cadence_name: cadence.name.clone(),
        state: membership.current_state.clone(),
    });
    Ok(())
}

/// Where to see it in the web app.
fn show_links(out: &Reporter, report: &Report) {
    let links = &report.links;
    out.step(&format!(
        "See the person at {}",
        links.person.as_deref().unwrap_or_default()
    ));
    if let Some(cadence) = &links.cadence {
        out.detail(&format!("and the cadence's people at {cadence}"));
    }
    out.detail(&format!("({})", links.note));
}

/// Removes what the run created: the membership, the person, and the account if it was new.
async fn cleanup(client: &Client, report: &mut Report, out: &Reporter) -> Result<(), DemoError> {
    if let Some(membership) = &report.membership {
        client
            .delete_cadence_membership()
            .id(membership.id)
            .call()
            .await?;
    }
    if let Some(person) = &report.person {
        client.delete_person().id(person.id).call().await?;
    }
    if let Some(account) = report.account.as_ref().filter(|a| a.created) {
        client.delete_account().id(account.id).call().await?;
    }
    report.cleaned_up = true;
    out.note(
        "Cleaned up: removed the membership, the person, and the account if this run created it.",
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_emails() {
        assert_eq!(
            derived_email("sandy@example.com", 17).unwrap(),
            "sandy+17@example.com"
        );
        assert_eq!(
            derived_email("sandy+old@example.com", 17).unwrap(),
            "sandy+17@example.com"
        );
        assert!(derived_email("nobody", 1).is_err());
        assert_eq!(salesloft_api::enroll::company_name("acme.test"), "Acme");
    }
}
